"""Split a Kaldi data dir into N parts (by utterance or by speaker) for parallel jobs."""

import click

from bccmt_tools.io.datadir_ops import split_data_dir


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--nj", type=click.IntRange(min=1), required=True, help="Number of parts.")
@click.option("--by", type=click.Choice(["utt", "spk"]), default="utt", show_default=True,
              help="utt: balanced contiguous chunks of sorted utterances; spk: no speaker split across parts.")
@click.option("--force", is_flag=True, help="Split again even when an up-to-date split exists.")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
def cli(nj, by, force, data_dir):
    """Split DATA_DIR into DATA_DIR/split<N>/<1..N>/ (--by utt) or DATA_DIR/split<N>spk/<1..N>/ (--by spk).

    A split that exists and is newer than every source file is kept as it is.

    \b
    Examples:
      bccmt split-data-dir --nj 4 data/voxceleb1_test
      bccmt split-data-dir --nj 8 --by spk data/train
    """
    job_dirs, reused = split_data_dir(data_dir, nj, by=by, force=force)
    root = job_dirs[0].parent
    click.echo(f"{root}: {'up to date, kept' if reused else f'wrote {nj} parts'}")
