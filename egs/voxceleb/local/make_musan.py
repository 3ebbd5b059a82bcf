#!/usr/bin/env python3
"""Stage 2, MUSAN: data/musan_noise, data/musan_music, data/musan_speech, each only if present.

Every wav below MUSAN_ROOT/<category>/ becomes one entry, keyed by its file name (MUSAN names
are unique, e.g. noise-free-sound-0001); utt2spk maps each file to itself, as Kaldi does.
Absent or empty categories are reported and skipped (their augmentation kinds then are too).

Usage: local/make_musan.py MUSAN_ROOT DATA_DIR
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

from prep_common import log, wav_duration, write_data_dir

from bccmt_tools.errors import BccmtError

CATEGORIES = ("noise", "music", "speech")


def find_wavs(folder):
    """All ``*.wav`` below ``folder`` (sorted walk), as ``{stem: absolute path}``."""
    found = {}
    for directory, subdirs, names in os.walk(folder):
        subdirs.sort()
        for name in sorted(names):
            if name.endswith(".wav"):
                key = name[:-4]
                path = os.path.join(directory, name)
                if key in found:
                    raise BccmtError(f"{path}: file name {name!r} appears twice (also {found[key]})")
                found[key] = path
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("musan_root", type=Path)
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()
    if not args.musan_root.is_dir():
        raise BccmtError(f"{args.musan_root}: no such folder (MUSAN)")
    for category in CATEGORIES:
        folder = (args.musan_root / category).resolve()
        out = args.data_dir / f"musan_{category}"
        wavs = find_wavs(folder) if folder.is_dir() else {}
        if not wavs:
            log(f"MUSAN {category}: absent ({folder} has no wav files): skipped")
            if out.exists():  # from an earlier corpus: it would otherwise still be used
                shutil.rmtree(out)
                log(f"removed the stale {out}")
            continue
        utt2dur = {key: f"{wav_duration(path):.3f}" for key, path in wavs.items()}
        write_data_dir(out, wav_scp=wavs, utt2spk={key: key for key in wavs}, utt2dur=utt2dur)
        minutes = sum(float(value) for value in utt2dur.values()) / 60
        log(f"{out}: {len(wavs)} files, {minutes:.1f} min")


if __name__ == "__main__":
    try:
        main()
    except BccmtError as error:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {error.message}")
