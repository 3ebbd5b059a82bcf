"""Repair a Kaldi data dir: sort files, drop inconsistent utterances, rewrite spk2utt."""

import click

from bccmt_tools.io.datadir_ops import fix_data_dir


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
def cli(data_dir):
    """Fix the data dir DATA_DIR in place.

    Sorts every file (LC_ALL=C), keeps only utterances present with a valid value in every
    per-utterance file (wav.scp, utt2spk, feats.scp, utt2num_frames, utt2dur, utt2*), rewrites
    spk2utt from utt2spk and restricts spk2* files to the speakers left. The original files are
    copied to a new backup folder first: DATA_DIR/.backup/, or when that exists (an earlier fix)
    .backup.1/, .backup.2/, ...; a backup is never overwritten, so .backup/ always holds the
    files from before the first fix. Prints how many utterances and speakers were dropped, and why.

    A data dir without wav.scp and feats.scp, or one that would be left with no utterances (e.g.
    an empty wav.scp), is an error and stays as it was.

    \b
    Example:
      bccmt fix-data-dir data/train
    """
    report = fix_data_dir(data_dir)
    for line in report.lines():
        click.echo(f"{data_dir}: {line}")
