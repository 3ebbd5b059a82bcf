"""Write a changed copy of a data dir's audio (augmented, speed-perturbed) as a wav ark.

The copy's ``wav.scp`` points into ``WAV_ARK_DIR/<out name>.ark`` (16-bit entries); ``utt2spk``,
``spk2utt`` and ``utt2dur`` (of the new audio) are written beside it, the whole folder atomically.
"""

from pathlib import Path

from bccmt_tools.errors import BccmtError


def source_tables(data):
    """``(wav_scp, utt2spk)`` of a :class:`~bccmt_tools.io.datadir.DataDir`, every utterance with audio."""
    wav_scp, utt2spk = data.require("wav.scp"), data.require("utt2spk")
    missing = [utt for utt in utt2spk if utt not in wav_scp]
    if missing:
        raise BccmtError(f"{data.file('wav.scp')}: key {missing[0]!r}: in utt2spk but not in wav.scp")
    return wav_scp, utt2spk


def write_audio_copy(data, out_dir, wav_ark_dir, entries, change, sample_rate, desc, progress=False):
    """Write ``out_dir`` from ``entries``, ``[(new utt, source utt, new speaker)]`` sorted by new utt:
    each source utterance of ``data`` read at ``sample_rate``, passed through ``change(samples, utt)``
    and stored under its new id. Returns the number of utterances written."""
    from tqdm import tqdm

    from bccmt_tools.data.augment import to_int16
    from bccmt_tools.io.atomic import atomic_directory
    from bccmt_tools.io.audio import read_audio
    from bccmt_tools.io.datadir import DataDir
    from bccmt_tools.io.kaldi_table import TableWriter

    wav_scp = data.require("wav.scp")
    out_dir = Path(out_dir)
    ark_path = Path(wav_ark_dir).resolve() / f"{out_dir.name}.ark"
    ark_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(out_dir) as work:
        new_utt2spk, new_utt2dur = {}, {}
        with TableWriter(f"ark,scp:{ark_path},{work / 'wav.scp'}") as writer:
            for new_utt, utt, new_spk in tqdm(entries, desc=desc, disable=not progress, mininterval=10):
                samples = read_audio(wav_scp[utt], sample_rate, where=f"{data.file('wav.scp')}: key {utt!r}")
                changed = change(samples, utt)
                writer[new_utt] = (sample_rate, to_int16(changed))
                new_utt2spk[new_utt] = new_spk
                new_utt2dur[new_utt] = f"{changed.size / sample_rate:.3f}"
        DataDir.write(work, utt2spk=new_utt2spk, utt2dur=new_utt2dur)
    return len(new_utt2spk)
