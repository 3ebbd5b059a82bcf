#!/usr/bin/env python3
"""Stage 1, VoxCeleb1: data/voxceleb1_test, data/voxceleb1_dev and data/trials/vox1_{O,E,H}.

Test speakers are those marked 'test' in vox1_meta.csv (or, without it, those of the VoxCeleb1-O
list); every other speaker goes to voxceleb1_dev. Trial lists become Kaldi format
(`enroll test target|nontarget`), and each of their utterances must exist in the data dirs.

Usage: local/make_voxceleb1.py VOX1_ROOT DATA_DIR
  VOX1_ROOT holds wav/<spk>/<video>/<n>.wav (or dev/wav and test/wav), veri_test2.txt,
  optionally list_test_all2.txt, list_test_hard2.txt and vox1_meta.csv.
"""

import argparse
import sys
from pathlib import Path

from prep_common import log, scan_voxceleb, wav_duration, write_data_dir

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.trials import read_trials, voxceleb_path_to_utt, write_trials

#: Trial list name (first one found) -> its name under data/trials. Cleaned lists, as in Kaldi v2.
TRIAL_LISTS = {
    "vox1_O": ("veri_test2.txt", "voxceleb1_test_v2.txt"),
    "vox1_E": ("list_test_all2.txt",),
    "vox1_H": ("list_test_hard2.txt",),
}


def test_speakers(root, o_list):
    """Speaker ids of the test part: from vox1_meta.csv ('Set' column), else from the O list."""
    meta = root / "vox1_meta.csv"
    if meta.is_file():
        lines = meta.read_text(encoding="utf-8").splitlines()
        header = [field.strip() for field in lines[0].split("\t")]
        if "Set" not in header or "VoxCeleb1 ID" not in header:
            raise BccmtError(f"{meta}: expected tab-separated columns 'VoxCeleb1 ID' and 'Set', got {header}")
        id_col, set_col = header.index("VoxCeleb1 ID"), header.index("Set")
        speakers = set()
        for number, line in enumerate(lines[1:], 2):
            fields = [field.strip() for field in line.split("\t")]
            if len(fields) <= max(id_col, set_col):
                if line.strip():
                    raise BccmtError(f"{meta}:{number}: expected {len(header)} tab-separated fields")
                continue
            if fields[set_col] == "test":
                speakers.add(fields[id_col])
        return speakers
    if o_list is None:
        raise BccmtError(f"{root}: neither vox1_meta.csv nor veri_test2.txt: cannot tell the test speakers")
    return {utt.split("-", 1)[0] for trial in read_trials(o_list, True) for utt in (trial.enroll, trial.test)}


def wav_folders(root):
    folders = [root / "wav", root / "dev" / "wav", root / "test" / "wav"]
    found = [folder for folder in folders if folder.is_dir()]
    if not found:
        raise BccmtError(f"{root}: no wav/ folder (nor dev/wav, test/wav): is this VoxCeleb1?")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vox1_root", type=Path)
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()
    root, data = args.vox1_root, args.data_dir

    lists = {}
    for name, candidates in TRIAL_LISTS.items():
        for candidate in candidates:
            if (root / candidate).is_file():
                lists[name] = root / candidate
                break
    if "vox1_O" not in lists:
        raise BccmtError(f"{root}: no VoxCeleb1-O trial list ({' or '.join(TRIAL_LISTS['vox1_O'])})")
    test_spks = test_speakers(root, lists.get("vox1_O"))

    parts = {"voxceleb1_test": ({}, {}, {}), "voxceleb1_dev": ({}, {}, {})}
    for folder in wav_folders(root):
        for speaker, video, stem, path in scan_voxceleb(folder.resolve(), ".wav"):
            utt = voxceleb_path_to_utt(f"{speaker}/{video}/{stem}.wav")
            wav_scp, utt2spk, utt2dur = parts["voxceleb1_test" if speaker in test_spks else "voxceleb1_dev"]
            if utt in wav_scp:
                raise BccmtError(f"{path}: utterance {utt!r} found twice (also {wav_scp[utt]})")
            wav_scp[utt] = path
            utt2spk[utt] = speaker
            utt2dur[utt] = f"{wav_duration(path):.3f}"
    for name, (wav_scp, utt2spk, utt2dur) in parts.items():
        if not wav_scp and name == "voxceleb1_test":
            raise BccmtError(f"{root}: no audio of the test speakers found")
        if wav_scp:
            write_data_dir(data / name, wav_scp=wav_scp, utt2spk=utt2spk, utt2dur=utt2dur)
        log(f"{data / name}: {len(wav_scp)} utterances, {len(set(utt2spk.values()))} speakers")

    known = {name: set(table[0]) for name, table in parts.items()}
    for name, path in lists.items():
        trials = read_trials(path, map_voxceleb_paths=True)
        allowed = known["voxceleb1_test"] if name == "vox1_O" else known["voxceleb1_test"] | known["voxceleb1_dev"]
        where = "data/voxceleb1_test" if name == "vox1_O" else "data/voxceleb1_test or data/voxceleb1_dev"
        for number, trial in enumerate(trials, 1):
            for utt in (trial.enroll, trial.test):
                if utt not in allowed:
                    raise BccmtError(f"{path}: trial {number}: utterance {utt!r} is not in {where}")
        write_trials(data / "trials" / name, trials, "kaldi")
        targets = sum(trial.label == 1 for trial in trials)
        log(f"{data / 'trials' / name}: {len(trials)} trials ({targets} target) from {path.name}")
    absent = [name for name in TRIAL_LISTS if name not in lists]
    if absent:
        log(f"no list for {', '.join(absent)} in {root} (skipped)")


if __name__ == "__main__":
    try:
        main()
    except BccmtError as error:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {error.message}")
