#!/usr/bin/env python3
"""Stage 1, speechocean762: Kaldi data dirs of its training and test speakers.

speechocean762 (Zhang et al., Interspeech 2021; github.com/jimbozhang/speechocean762, Apache-2.0;
openslr.org/101, CC BY 4.0): 5,000 read English sentences and phrases by 250 Mandarin-L1 speakers,
16 kHz mono wav, 20 per speaker, split 125/125 by speaker into train/ and test/ (Kaldi lists with
paths relative to the corpus root). This script writes

  DATA/so762_train   the training speakers minus --num-val-speakers of them
  DATA/so762_val     those held-out training speakers (validation during training; never test speakers)
  DATA/so762_test    the 125 test speakers

with wav.scp (absolute paths), utt2spk, spk2utt, utt2dur, text and spk2gender. Speaker ids are
`so762_<id>` and utterance ids `so762_<id>-<utt>`, so every table sorts by speaker and no key
collides with VoxCeleb's. The held-out speakers are drawn with --seed, half of them from the
children and half from the adults (by spk2age, children: under 16).

Usage: local/make_speechocean762.py [--num-val-speakers N] [--seed S] SO762_ROOT DATA_DIR
"""

import argparse
import random
import shutil
import sys
from pathlib import Path

from prep_common import log, wav_duration, write_data_dir

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.datadir import read_kv

PARTS = ("train", "test")
CHILD_AGE = 16  # spk2age below this: a child (half of speechocean762's speakers)


def speaker_id(spk):
    return f"so762_{spk}"


def read_part(root, part):
    """``{utt: (spk, wav path, text)}`` and ``{spk: (gender, age)}`` of ROOT/PART (checked)."""
    folder = root / part
    tables = {}
    for name in ("wav.scp", "utt2spk", "text", "spk2gender", "spk2age"):
        path = folder / name
        if not path.is_file():
            raise BccmtError(f"{path}: no such file (is {root} the speechocean762 folder, with {part}/ and WAVE/?)")
        tables[name] = read_kv(path)
    utts = {}
    for utt, spk in sorted(tables["utt2spk"].items()):
        for name in ("wav.scp", "text"):
            if utt not in tables[name]:
                raise BccmtError(f"{folder / name}: key {utt!r}: missing (the utterance is in {folder / 'utt2spk'})")
        wav = root / tables["wav.scp"][utt]
        if not wav.is_file():
            raise BccmtError(f"{folder / 'wav.scp'}: key {utt!r}: no such file: {wav}")
        utts[utt] = (spk, wav.resolve(), " ".join(tables["text"][utt].split()))
    speakers = {}
    for spk in sorted({spk for spk, _, _ in utts.values()}):
        for name in ("spk2gender", "spk2age"):
            if spk not in tables[name]:
                raise BccmtError(f"{folder / name}: speaker {spk!r}: missing")
        try:
            age = int(tables["spk2age"][spk])
        except ValueError:
            raise BccmtError(f"{folder / 'spk2age'}: speaker {spk!r}: age {tables['spk2age'][spk]!r} is not a number") from None
        speakers[spk] = (tables["spk2gender"][spk], age)
    if not utts:
        raise BccmtError(f"{folder / 'utt2spk'}: no utterances")
    return utts, speakers


def held_out_speakers(speakers, count, seed):
    """``count`` speakers drawn with ``seed``, half children and half adults (as far as they go).

    >>> spks = {f"{n:04d}": ("f", 10 if n % 2 else 30) for n in range(20)}
    >>> chosen = held_out_speakers(spks, 4, seed=1)
    >>> len(chosen), sorted(spks[s][1] for s in chosen)
    (4, [10, 10, 30, 30])
    """
    if not 0 <= count < len(speakers):
        raise BccmtError(f"--num-val-speakers {count}: must be in 0..{len(speakers) - 1} (there are "
                         f"{len(speakers)} training speakers)")
    rng = random.Random(seed)
    children = sorted(spk for spk, (_, age) in speakers.items() if age < CHILD_AGE)
    adults = sorted(spk for spk, (_, age) in speakers.items() if age >= CHILD_AGE)
    take_adults = min(len(adults), count // 2)
    take_children = min(len(children), count - take_adults)
    take_adults = count - take_children  # when there are too few children
    return set(rng.sample(children, take_children)) | set(rng.sample(adults, take_adults))


def write_part(path, utts, speakers, keep):
    """Write the data dir ``path`` of the speakers ``keep``; returns (utterances, speakers)."""
    tables = {"wav_scp": {}, "utt2spk": {}, "utt2dur": {}, "text": {}, "spk2gender": {}}
    for utt, (spk, wav, text) in utts.items():
        if spk not in keep:
            continue
        key = f"{speaker_id(spk)}-{utt}"
        tables["wav_scp"][key] = str(wav)
        tables["utt2spk"][key] = speaker_id(spk)
        tables["utt2dur"][key] = f"{wav_duration(wav):.3f}"
        tables["text"][key] = text
        tables["spk2gender"][speaker_id(spk)] = speakers[spk][0]
    write_data_dir(path, **tables)
    return len(tables["utt2spk"]), len(tables["spk2gender"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-val-speakers", type=int, default=12,
                        help="training speakers held out for validation (default: 12)")
    parser.add_argument("--seed", type=int, default=762, help="seed of the held-out draw (default: 762)")
    parser.add_argument("so762_root", type=Path, help="speechocean762 folder (WAVE/, train/, test/)")
    parser.add_argument("data_dir", type=Path, help="where so762_{train,val,test} go (e.g. data)")
    args = parser.parse_args()
    train_utts, train_spks = read_part(args.so762_root, "train")
    test_utts, test_spks = read_part(args.so762_root, "test")
    shared = sorted(set(train_spks) & set(test_spks))
    if shared:
        raise BccmtError(f"{args.so762_root}: speaker {shared[0]!r} is in both train/ and test/ "
                         f"({len(shared)} shared): the split must be by speaker")
    val = held_out_speakers(train_spks, args.num_val_speakers, args.seed)
    parts = {
        "so762_train": (train_utts, train_spks, set(train_spks) - val),
        "so762_val": (train_utts, train_spks, val),
        "so762_test": (test_utts, test_spks, set(test_spks)),
    }
    for name, (utts, spks, keep) in parts.items():
        if not keep:  # --num-val-speakers 0: a so762_val of an earlier run would overlap so762_train
            if (args.data_dir / name).is_dir():
                shutil.rmtree(args.data_dir / name)
                log(f"{args.data_dir / name}: removed (no speakers held out)")
            continue
        num_utts, num_spks = write_part(args.data_dir / name, utts, spks, keep)
        log(f"{args.data_dir / name}: {num_utts} utterances of {num_spks} speakers")


if __name__ == "__main__":
    try:
        main()
    except BccmtError as exc:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {exc}")
