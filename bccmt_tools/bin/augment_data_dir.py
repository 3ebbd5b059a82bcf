"""Make an augmented copy of a data dir (reverb, noise, music or babble), audio written as wav arks."""

from pathlib import Path

import click
import numpy as np

from bccmt_tools.data.augment import KINDS, SOURCE_CATEGORY, Augmenter, load_augment_config, utterance_rng
from bccmt_tools.errors import BccmtError


def select_utterances(utts, num_utts, seed, kind):
    """A seeded random subset of ``num_utts`` sorted utterance ids (all of them when None or larger)."""
    utts = sorted(utts)
    if num_utts is None or num_utts >= len(utts):
        return utts
    rng = np.random.default_rng([int(seed), KINDS.index(kind)])
    return [utts[i] for i in sorted(rng.choice(len(utts), size=num_utts, replace=False))]


def _read_source(directory, what):
    from bccmt_tools.io.datadir import read_kv

    wav_scp = Path(directory) / "wav.scp"
    if not wav_scp.is_file():
        raise BccmtError(f"{wav_scp}: no such file ({what} needs a data dir with a wav.scp)")
    entries = list(read_kv(wav_scp).items())
    if not entries:
        raise BccmtError(f"{wav_scp}: empty ({what} needs at least one entry)")
    return entries


def augment_data_dir(kind, in_dir, out_dir, wav_ark_dir, sources, config=None, seed=0, num_utts=None,
                     job=1, num_jobs=1, progress=False):
    """Write ``out_dir`` (wav.scp into an ark, utt2spk, spk2utt, utt2dur) augmented by ``kind``.

    ``sources`` maps ``rirs`` / ``noise`` / ``music`` / ``speech`` to data dirs; only the one the
    kind needs is read. Each utterance gets its own generator from (seed, kind, utt), so the output
    does not depend on the job split. Returns the number of utterances written.
    """
    from bccmt_tools.data.audio_copy import source_tables, write_audio_copy
    from bccmt_tools.io.datadir import DataDir

    if kind not in KINDS:
        raise BccmtError(f"unknown kind {kind!r} (valid: {', '.join(KINDS)})")
    if not 1 <= job <= num_jobs:
        raise BccmtError(f"--job {job} is outside 1..{num_jobs}")
    config = load_augment_config(config)
    if kind == "reverb":
        augmenter = Augmenter({}, _read_source(_need(sources, "rirs", kind), kind), config, seed)
    else:
        category = SOURCE_CATEGORY[kind]
        augmenter = Augmenter({category: _read_source(_need(sources, category, kind), kind)}, [], config, seed)

    data = DataDir(in_dir)
    _wav_scp, utt2spk = source_tables(data)
    chosen = select_utterances(utt2spk, num_utts, seed, kind)[job - 1::num_jobs]
    # Written in the order of the new ids, so that wav.scp comes out sorted.
    entries = sorted((f"{utt}-{kind}", utt, utt2spk[utt]) for utt in chosen)

    def change(samples, utt):
        return augmenter.augment(samples, kind=kind, rng=utterance_rng(seed, kind, utt))[0]

    return write_audio_copy(data, out_dir, wav_ark_dir, entries, change, int(config["sample_rate"]),
                            f"augment {kind}", progress)


def _need(sources, name, kind):
    directory = sources.get(name)
    if not directory:
        option = {"rirs": "--rir-dir", "noise": "--noise-dir", "music": "--music-dir", "speech": "--speech-dir"}[name]
        raise BccmtError(f"kind {kind!r} needs {option}")
    return directory


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--kind", type=click.Choice(KINDS), required=True, help="Augmentation to apply.")
@click.option("--rir-dir", type=click.Path(file_okay=False), help="Data dir of RIRs (reverb).")
@click.option("--noise-dir", type=click.Path(file_okay=False), help="Data dir of MUSAN noise (noise).")
@click.option("--music-dir", type=click.Path(file_okay=False), help="Data dir of MUSAN music (music).")
@click.option("--speech-dir", type=click.Path(file_okay=False), help="Data dir of MUSAN speech (babble).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Augmentation ranges (YAML, e.g. egs/voxceleb/conf/augment.yaml); built-in defaults otherwise.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same output.")
@click.option("--num-utts", type=click.IntRange(min=1), default=None, help="Augment a random subset of N utterances.")
@click.option("--job", type=click.IntRange(min=1), default=1, show_default=True, help="Process only shard JOB ...")
@click.option("--num-jobs", type=click.IntRange(min=1), default=1, show_default=True, help="... of NUM_JOBS.")
@click.argument("in_dir", type=click.Path(file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.argument("wav_ark_dir", type=click.Path(file_okay=False))
def cli(kind, rir_dir, noise_dir, music_dir, speech_dir, config_path, seed, num_utts, job, num_jobs,
        in_dir, out_dir, wav_ark_dir):
    """Augment IN_DIR into OUT_DIR: new utterance ids IN_UTT-KIND, same speakers, same lengths.

    The audio goes to WAV_ARK_DIR/<OUT_DIR's name>.ark as 16-bit wav entries; OUT_DIR/wav.scp
    points into it (`utt /abs/path.ark:offset`). SNRs are drawn from the config: noise 0-15 dB, music
    5-15 dB, babble 13-20 dB of 3-7 summed speech files; reverb convolves with a random RIR.
    With --job/--num-jobs, the --num-utts subset is split into shards, each written to its own
    OUT_DIR (name them apart, e.g. x.1 x.2; combine them afterwards); the audio of an utterance
    does not depend on the split.

    \b
    Examples:
      bccmt augment-data-dir --kind reverb --rir-dir data/rirs --seed 1 \\
          data/train data/train_reverb wav/aug
      bccmt augment-data-dir --kind babble --speech-dir data/musan_speech --num-utts 1000 \\
          --config conf/augment.yaml data/train data/train_babble wav/aug
    """
    sources = {"rirs": rir_dir, "noise": noise_dir, "music": music_dir, "speech": speech_dir}
    count = augment_data_dir(kind, in_dir, out_dir, wav_ark_dir, sources, config_path, seed, num_utts,
                             job, num_jobs, progress=True)
    click.echo(f"augment-data-dir: wrote {count} {kind} utterances to {out_dir}", err=True)
