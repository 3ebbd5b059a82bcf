"""Drop too short or too long utterances and speakers with too few utterances from a Kaldi data dir."""

import click

from bccmt_tools.bin._options import overwrite_option
from bccmt_tools.io.datadir_ops import filter_data_dir, refuse_existing_output


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--min-frames", type=click.IntRange(min=0), help="Drop utterances with fewer frames (needs utt2num_frames).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Drop utterances with more frames (needs utt2num_frames).")
@click.option("--min-utts-per-spk", type=click.IntRange(min=1), help="Then drop speakers with fewer utterances left.")
@overwrite_option
@click.argument("in_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
def cli(min_frames, max_frames, min_utts_per_spk, overwrite, in_dir, out_dir):
    """Write IN_DIR without the filtered utterances into OUT_DIR and say how many went, and why.

    Frame filters run first, then the speaker filter counts the utterances left.

    \b
    Example:
      bccmt filter-data-dir --min-frames 200 --min-utts-per-spk 8 data/train_all data/train
    """
    if min_frames is None and max_frames is None and min_utts_per_spk is None:
        raise click.UsageError("give at least one of --min-frames, --max-frames, --min-utts-per-spk")
    refuse_existing_output(out_dir, overwrite)
    filtered, removed = filter_data_dir(in_dir, out_dir, min_frames, max_frames, min_utts_per_spk)
    for reason, count in removed.items():
        click.echo(f"{out_dir}: removed {count} utterances {reason}")
    click.echo(f"{out_dir}: {len(filtered.utt2spk)} utterances, {len(filtered.spk2utt)} speakers left")
