"""Make a speed-perturbed copy of a data dir (new speakers sp<f>-<spk>), audio written as wav arks."""

import click

from bccmt_tools.errors import BccmtError


def speed_perturb_data_dir(factor, in_dir, out_dir, wav_ark_dir, sample_rate=16000, progress=False):
    """Write ``out_dir`` (wav.scp into an ark, utt2spk, spk2utt, utt2dur): every utterance of
    ``in_dir`` at ``factor`` times its speed, keys and speakers prefixed ``sp<factor>-``. Returns the
    number of utterances written."""
    from bccmt_tools.data.audio_copy import source_tables, write_audio_copy
    from bccmt_tools.data.speed import check_factor, speed_perturb, speed_prefix
    from bccmt_tools.io.datadir import DataDir

    factor = check_factor(factor)
    if factor == 1.0:
        raise BccmtError("--factor 1.0 would copy the data dir unchanged; use 0.9 or 1.1 (the original is factor 1)")
    prefix = speed_prefix(factor)
    data = DataDir(in_dir)
    _wav_scp, utt2spk = source_tables(data)
    entries = [(prefix + utt, utt, prefix + utt2spk[utt]) for utt in sorted(utt2spk)]
    return write_audio_copy(data, out_dir, wav_ark_dir, entries, lambda samples, _utt: speed_perturb(samples, factor),
                            sample_rate, f"speed {factor:g}", progress)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--factor", type=float, required=True, help="Speed factor, e.g. 0.9 or 1.1 (1.1: 10% faster, shorter).")
@click.option("--sample-rate", type=click.IntRange(min=1), default=16000, show_default=True,
              help="Rate of the audio (other rates are an error).")
@click.argument("in_dir", type=click.Path(file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.argument("wav_ark_dir", type=click.Path(file_okay=False))
def cli(factor, sample_rate, in_dir, out_dir, wav_ark_dir):
    """Speed-perturb every utterance of IN_DIR into OUT_DIR, as Kaldi's perturb_data_dir_speed.sh.

    Tempo and pitch change together (sox's `speed`): the audio is resampled from FACTOR x rate to
    the rate, so it lasts 1/FACTOR as long. Utterances and speakers get the prefix `sp<FACTOR>-`:
    each factor is a new speaker, which triples the speakers of a corpus with 0.9 and 1.1 beside the
    original. The audio goes to WAV_ARK_DIR/<OUT_DIR's name>.ark as 16-bit wav entries.

    \b
    Examples:
      bccmt speed-perturb-data-dir --factor 0.9 data/train_clean data/train_clean_sp0.9 wav/speed
      bccmt speed-perturb-data-dir --factor 1.1 data/train_clean data/train_clean_sp1.1 wav/speed
    """
    count = speed_perturb_data_dir(factor, in_dir, out_dir, wav_ark_dir, sample_rate, progress=True)
    click.echo(f"speed-perturb-data-dir: wrote {count} utterances at speed {factor:g} to {out_dir}", err=True)
