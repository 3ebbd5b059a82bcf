"""Copy part of a Kaldi data dir: listed utterances or speakers, the first N, N at random, N per speaker."""

import click

from bccmt_tools.bin._options import overwrite_option
from bccmt_tools.io.datadir import DataDir, read_id_list
from bccmt_tools.io.datadir_ops import refuse_existing_output, select_utterances, subset_data_dir


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--utt-list", type=click.Path(exists=True, dir_okay=False), help="Keep the utterances listed (first field per line).")
@click.option("--spk-list", type=click.Path(exists=True, dir_okay=False), help="Keep the utterances of the speakers listed.")
@click.option("--first", type=click.IntRange(min=1), help="Keep the first N utterances (sorted order).")
@click.option("--random", "random_count", type=click.IntRange(min=1), help="Keep N utterances drawn at random.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for --random.")
@click.option("--per-spk", type=click.IntRange(min=1), help="Keep the first N utterances of every speaker.")
@overwrite_option
@click.argument("in_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
def cli(utt_list, spk_list, first, random_count, seed, per_spk, overwrite, in_dir, out_dir):
    """Write the part of data dir IN_DIR chosen by exactly one option into OUT_DIR.

    Every per-utterance file is restricted to the chosen utterances; spk2utt is rewritten.

    \b
    Examples:
      bccmt subset-data-dir --utt-list keep.txt data/train data/train_keep
      bccmt subset-data-dir --random 1000 --seed 3 data/train data/train_1k
      bccmt subset-data-dir --per-spk 2 data/train data/train_2perspk
    """
    data = DataDir(in_dir)
    utts, unknown = select_utterances(
        data,
        utt_list=read_id_list(utt_list) if utt_list else None,
        spk_list=read_id_list(spk_list) if spk_list else None,
        first=first, random=random_count, seed=seed, per_spk=per_spk,
    )
    refuse_existing_output(out_dir, overwrite)
    subset, removed = subset_data_dir(data, out_dir, utts)
    if unknown:
        click.echo(f"{out_dir}: warning: {unknown} listed id(s) are not in {in_dir}")
    if removed:
        click.echo(f"{out_dir}: removed stale files {', '.join(removed)}")
    click.echo(f"{out_dir}: {len(utts)} of {len(data.utt2spk)} utterances, {len(subset.spk2utt)} speakers")
