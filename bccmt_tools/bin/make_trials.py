"""Draw a labelled trial list (target and non-target pairs) from a data dir's utt2spk."""

import click

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.datadir import DataDir
from bccmt_tools.io.trials import FORMATS, make_trials, write_trials


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--num-target", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Target trials (two utterances of one speaker).")
@click.option("--num-nontarget", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Non-target trials (utterances of two speakers).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same list.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="kaldi", show_default=True,
              help="kaldi: 'enroll test target|nontarget'; voxceleb: '1|0 enroll test'.")
@click.option("--text", "text_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Transcripts ('utt words...', e.g. DATA_DIR/text): no target trial pairs two readings of one text.")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("trials_out", type=click.Path(dir_okay=False, allow_dash=True))
def cli(num_target, num_nontarget, seed, fmt, text_path, data_dir, trials_out):
    """Write a trial list over the utterances of DATA_DIR (its utt2spk) to TRIALS_OUT (- = stdout).

    Use it for a validation list from speakers kept out of training, or to score your own data.

    \b
    Examples:
      bccmt make-trials --num-target 1000 --num-nontarget 1000 data/voxceleb1_dev data/trials/vox1_dev_val
      bccmt make-trials --format voxceleb --seed 3 my_data my_data/trials
      bccmt make-trials --num-target 10000 --num-nontarget 10000 --seed 762 \
          --text data/so762_test/text data/so762_test data/trials/so762_test
    """
    utt2spk = DataDir(data_dir).require("utt2spk")
    utt2text = None
    if text_path is not None:
        from bccmt_tools.io.datadir import read_kv

        utt2text = {utt: " ".join(text.split()) for utt, text in read_kv(text_path).items()}
        missing = sorted(utt for utt in utt2spk if utt not in utt2text)
        if missing:
            raise BccmtError(f"{text_path}: key {missing[0]!r}: no text (the utterance is in "
                             f"{DataDir(data_dir).file('utt2spk')}; {len(missing)} without one)")
    trials = make_trials(utt2spk, num_target, num_nontarget, seed=seed, utt2text=utt2text)
    write_trials(trials_out, trials, fmt)
    if trials_out != "-":
        click.echo(f"{trials_out}: {len(trials)} trials ({num_target} target) over {len(utt2spk)} utterances "
                   f"of {len(set(utt2spk.values()))} speakers")
