"""Make a speed-perturbed copy of a data dir (new speakers sp<f>-<spk>), audio written as wav arks."""

from pathlib import Path

import click

from bccmt_tools.errors import BccmtError


def speed_perturb_data_dir(factor, in_dir, out_dir, wav_ark_dir, sample_rate=16000, progress=False):
    """Write ``out_dir`` (wav.scp into an ark, utt2spk, spk2utt, utt2dur): every utterance of
    ``in_dir`` at ``factor`` times its speed, keys and speakers prefixed ``sp<factor>-``. Returns the
    number of utterances written."""
    from tqdm import tqdm

    from bccmt_tools.data.augment import to_int16
    from bccmt_tools.data.speed import check_factor, speed_perturb, speed_prefix
    from bccmt_tools.io.atomic import atomic_directory
    from bccmt_tools.io.audio import read_audio
    from bccmt_tools.io.datadir import DataDir
    from bccmt_tools.io.kaldi_table import TableWriter

    factor = check_factor(factor)
    if factor == 1.0:
        raise BccmtError("--factor 1.0 would copy the data dir unchanged; use 0.9 or 1.1 (the original is factor 1)")
    prefix = speed_prefix(factor)
    data = DataDir(in_dir)
    wav_scp, utt2spk = data.require("wav.scp"), data.require("utt2spk")
    missing = [utt for utt in utt2spk if utt not in wav_scp]
    if missing:
        raise BccmtError(f"{data.file('wav.scp')}: key {missing[0]!r}: in utt2spk but not in wav.scp")
    out_dir = Path(out_dir)
    ark_path = Path(wav_ark_dir).resolve() / f"{out_dir.name}.ark"
    ark_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(out_dir) as work:
        new_utt2spk, new_utt2dur = {}, {}
        with TableWriter(f"ark,scp:{ark_path},{work / 'wav.scp'}") as writer:
            for utt in tqdm(sorted(utt2spk), desc=f"speed {factor:g}", disable=not progress, mininterval=10):
                samples = read_audio(wav_scp[utt], sample_rate, where=f"{data.file('wav.scp')}: key {utt!r}")
                perturbed = speed_perturb(samples, factor)
                writer[prefix + utt] = (sample_rate, to_int16(perturbed))
                new_utt2spk[prefix + utt] = prefix + utt2spk[utt]
                new_utt2dur[prefix + utt] = f"{perturbed.size / sample_rate:.3f}"
        DataDir.write(work, utt2spk=new_utt2spk, utt2dur=new_utt2dur)
    return len(new_utt2spk)


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
