"""Combine Kaldi data dirs into one (utterance ids must be unique across them)."""

import click

from bccmt_tools.bin._options import overwrite_option
from bccmt_tools.io.datadir_ops import combine_data_dirs, refuse_existing_output


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@overwrite_option
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.argument("in_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
def cli(overwrite, out_dir, in_dirs):
    """Combine the data dirs IN_DIRS into OUT_DIR.

    Files present in every input are combined; the others are left out (and named). An
    utterance id found in two inputs is an error naming both. When feats.scp is combined, the
    inputs' fbank records (conf/fbank.yaml, the options the features were computed with) must
    agree, and the output keeps it (left out, and named, when some inputs have none).

    \b
    Example:
      bccmt combine-data-dirs data/train data/voxceleb2_dev data/voxceleb2_dev_aug
    """
    refuse_existing_output(out_dir, overwrite)
    combined, left_out = combine_data_dirs(out_dir, list(in_dirs))
    for name, lacking in left_out.items():
        click.echo(f"{out_dir}: left out {name} (missing in {', '.join(lacking)})")
    click.echo(f"{out_dir}: {len(combined.utt2spk)} utterances, {len(combined.spk2utt)} speakers "
               f"from {len(in_dirs)} data dirs")
