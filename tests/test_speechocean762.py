"""speechocean762 in the recipe: local/make_speechocean762.py and the so762 part of
local/prepare_data.sh (data dirs so762_{train,val,test}, trial lists so762_{test,val}) on a tiny
synthetic copy of the corpus layout."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bccmt_tools.io.datadir import read_kv
from bccmt_tools.io.trials import read_trials_with_format
from test_recipe_stages_1_4 import RECIPE, recipe_copy, tiny_vox1  # noqa: F401 (tiny_vox1: a fixture)

CHILD_AGE = 16
# speaker -> (gender, age): three children and three adults in train/, two of each in test/
TRAIN_SPEAKERS = {"0001": ("m", 8), "0002": ("f", 10), "0003": ("m", 12),
                  "0004": ("f", 25), "0005": ("m", 30), "0006": ("f", 41)}
TEST_SPEAKERS = {"0007": ("f", 9), "0008": ("m", 11), "0009": ("m", 20), "0010": ("f", 35)}
TEXTS = ["WE CALL IT BEAR", "I LIKE  PEARS", "THE RAIN IN SPAIN", "GOOD MORNING", "MARK IS GOING TO SEE ELEPHANT"]
#: speakers that read one text twice (their utterances 1 and 2)
READ_TWICE = {"0001", "0007"}


def utterances(spk):
    """The four utterance ids of ``spk`` (0 + speaker + number, as 000010011) with their texts."""
    offset = int(spk)
    for n in range(4):
        text = TEXTS[(offset + n) % len(TEXTS)]
        if spk in READ_TWICE and n == 2:
            text = TEXTS[(offset + 1) % len(TEXTS)]  # the text of utterance 1 again
        yield f"0{spk}{n + 11:04d}", text


def seconds_of(utt):
    return 0.15 + 0.01 * (int(utt[-2:]) - 10)


@pytest.fixture
def so762(tmp_path, make_wav):
    """A speechocean762 folder: WAVE/SPEAKERxxxx/*.WAV and train/, test/ lists (train tab-separated,
    test space-separated, paths relative to the root)."""
    root = tmp_path / "speechocean762"
    for part, speakers, sep in (("train", TRAIN_SPEAKERS, "\t"), ("test", TEST_SPEAKERS, " ")):
        tables = {name: [] for name in ("wav.scp", "utt2spk", "text", "spk2gender", "spk2age", "spk2utt")}
        for spk, (gender, age) in speakers.items():
            utts = []
            for utt, text in utterances(spk):
                relative = f"WAVE/SPEAKER{spk}/{utt}.WAV"
                make_wav(f"speechocean762/{relative}", seconds=seconds_of(utt), freq=100.0 + int(utt))
                tables["wav.scp"].append(f"{utt}{sep}{relative}")
                tables["utt2spk"].append(f"{utt}{sep}{spk}")
                tables["text"].append(f"{utt}{sep}{text}")
                utts.append(utt)
            tables["spk2gender"].append(f"{spk}{sep}{gender}")
            tables["spk2age"].append(f"{spk}{sep}{age}")
            tables["spk2utt"].append(f"{spk}{sep}{' '.join(utts)}")
        (root / part).mkdir(parents=True)
        for name, lines in tables.items():
            (root / part / name).write_text("\n".join(lines) + "\n")
    return root


def make_so762(root, data, *args):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([sys.executable, str(RECIPE / "local" / "make_speechocean762.py"), *map(str, args),
                           str(root), str(data)], env=env, capture_output=True, text=True, timeout=120)


def speakers_of(data_dir):
    return set(read_kv(Path(data_dir) / "utt2spk").values())


def is_child(speaker):  # so762_0001 -> its age in the fixture
    spk = speaker.removeprefix("so762_")
    return {**TRAIN_SPEAKERS, **TEST_SPEAKERS}[spk][1] < CHILD_AGE


def test_writes_three_data_dirs_with_prefixed_sorted_keys(so762, tmp_path):
    data = tmp_path / "data"
    result = make_so762(so762, data, "--num-val-speakers", 2, "--seed", 3)
    assert result.returncode == 0, result.stderr
    expected = {"so762_train": TRAIN_SPEAKERS, "so762_val": TRAIN_SPEAKERS, "so762_test": TEST_SPEAKERS}
    for name, speakers in expected.items():
        folder = data / name
        for file in ("wav.scp", "utt2spk", "spk2utt", "utt2dur", "text", "spk2gender"):
            assert (folder / file).is_file(), f"{name}/{file}"
        utt2spk = read_kv(folder / "utt2spk")
        keys = [line.split()[0] for line in (folder / "utt2spk").read_text().splitlines()]
        assert keys == sorted(keys) and keys
        wav_scp, utt2dur, text = (read_kv(folder / f) for f in ("wav.scp", "utt2dur", "text"))
        assert list(wav_scp) == list(utt2dur) == list(text) == keys
        for key, speaker in utt2spk.items():
            spk, utt = speaker.removeprefix("so762_"), key.split("-", 1)[1]
            assert speaker == f"so762_{spk}" and key == f"{speaker}-{utt}" and utt[1:5] == spk
            assert spk in speakers
            wav = Path(wav_scp[key])
            assert wav.is_absolute() and wav == (so762 / f"WAVE/SPEAKER{spk}/{utt}.WAV").resolve()
            assert float(utt2dur[key]) == pytest.approx(seconds_of(utt), abs=1e-3)
            assert text[key] == " ".join(dict(utterances(spk))[utt].split())  # whitespace collapsed
        genders = {speaker: speakers[speaker.removeprefix("so762_")][0] for speaker in set(utt2spk.values())}
        assert read_kv(folder / "spk2gender") == genders
    assert read_kv(data / "so762_test" / "text")["so762_0008-000080014"] == "I LIKE PEARS"
    train, val, test = (speakers_of(data / name) for name in ("so762_train", "so762_val", "so762_test"))
    assert train | val == {f"so762_{s}" for s in TRAIN_SPEAKERS} and not train & val
    assert test == {f"so762_{s}" for s in TEST_SPEAKERS}
    assert sorted(map(is_child, val)) == [False, True]  # one child, one adult
    assert "so762_val: 8 utterances of 2 speakers" in result.stderr


def test_held_out_speakers_are_half_children_and_repeat_with_the_seed(so762, tmp_path):
    splits = []
    for seed in (1, 2, 3, 4):
        data = tmp_path / f"data{seed}"
        result = make_so762(so762, data, "--num-val-speakers", 4, "--seed", seed)
        assert result.returncode == 0, result.stderr
        val = speakers_of(data / "so762_val")
        assert len(val) == 4 and sum(map(is_child, val)) == 2  # half children, half adults
        assert not val & speakers_of(data / "so762_test") and not val & speakers_of(data / "so762_train")
        assert val <= {f"so762_{s}" for s in TRAIN_SPEAKERS}
        splits.append(frozenset(val))
    assert len(set(splits)) > 1  # the seed draws them
    again = make_so762(so762, tmp_path / "again", "--num-val-speakers", 4, "--seed", 3)
    assert again.returncode == 0, again.stderr
    for name in ("so762_train", "so762_val", "so762_test"):
        for file in ("utt2spk", "wav.scp", "text"):
            assert (tmp_path / "again" / name / file).read_text() == (tmp_path / "data3" / name / file).read_text()
    # No held-out speakers: the so762_val of the earlier run goes (it would overlap so762_train).
    none = make_so762(so762, tmp_path / "data3", "--num-val-speakers", 0)
    assert none.returncode == 0, none.stderr
    assert not (tmp_path / "data3" / "so762_val").exists()
    assert speakers_of(tmp_path / "data3" / "so762_train") == {f"so762_{s}" for s in TRAIN_SPEAKERS}


def _drop_list(root):
    (root / "train" / "spk2age").unlink()
    return "train/spk2age: no such file"


def _drop_wav(root):
    (root / "WAVE" / "SPEAKER0003" / "000030012.WAV").unlink()
    return "train/wav.scp: key '000030012': no such file"


def _share_speaker(root):
    with open(root / "test" / "wav.scp", "a") as handle:
        handle.write("000010099 WAVE/SPEAKER0001/000010011.WAV\n")
    with open(root / "test" / "utt2spk", "a") as handle:
        handle.write("000010099 0001\n")
    with open(root / "test" / "text", "a") as handle:
        handle.write("000010099 GOOD MORNING\n")
    with open(root / "test" / "spk2gender", "a") as handle:
        handle.write("0001 m\n")
    with open(root / "test" / "spk2age", "a") as handle:
        handle.write("0001 8\n")
    return "speaker '0001' is in both train/ and test/"


@pytest.mark.parametrize("spoil", [_drop_list, _drop_wav, _share_speaker])
def test_bad_corpus_is_a_one_line_error_and_writes_nothing(so762, tmp_path, spoil):
    message = spoil(so762)
    result = make_so762(so762, tmp_path / "data")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("make_speechocean762.py: error: ") and message in lines[0]
    if spoil is not _share_speaker:
        assert str(so762) in lines[0]  # the file is named by its full path
    assert not (tmp_path / "data").exists()


def test_prepare_data_makes_so762_dirs_and_text_aware_trial_lists(so762, tiny_vox1, tmp_path):
    work = recipe_copy(tmp_path)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    # 23 target trials: every different-text pair of the test speakers (0007 reads one text twice)
    args = ["bash", "local/prepare_data.sh", "--voxceleb1-root", str(tiny_vox1), "--train-parts", "so762_train",
            "--train-src", "so762_train", "--speechocean762-root", str(so762), "--so762-val-speakers", "2",
            "--so762-test-trials", "23", "--so762-val-trials", "10"]
    result = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = work / "data"
    for name in ("so762_train", "so762_val", "so762_test"):
        assert (data / name / "wav.scp").is_file()
    val_speakers = speakers_of(data / "so762_val")
    assert len(val_speakers) == 2 and not val_speakers & speakers_of(data / "so762_train")

    for name, data_dir, targets in (("so762_test", "so762_test", 23), ("so762_val", "so762_val", 10)):
        trials, fmt = read_trials_with_format(data / "trials" / name)
        assert fmt == "kaldi"  # labelled
        utt2spk, text = read_kv(data / data_dir / "utt2spk"), read_kv(data / data_dir / "text")
        assert sum(t.label for t in trials) == targets and len(trials) == 2 * targets
        for trial in trials:
            assert trial.enroll in utt2spk and trial.test in utt2spk  # only the part's own speakers
            assert trial.label == (utt2spk[trial.enroll] == utt2spk[trial.test])
            assert not (trial.label and text[trial.enroll] == text[trial.test])  # no same-text target
        if name == "so762_val":
            assert {utt2spk[u] for t in trials for u in (t.enroll, t.test)} <= val_speakers
    # The test list holds every different-text target pair; the same-text pair of 0007 is not one.
    targets = {(t.enroll, t.test) for t in read_trials_with_format(data / "trials" / "so762_test")[0] if t.label}
    utt2spk = read_kv(data / "so762_test" / "utt2spk")
    text = read_kv(data / "so762_test" / "text")
    expected = {(a, b) for a, b in itertools.combinations(sorted(utt2spk), 2)
                if utt2spk[a] == utt2spk[b] and text[a] != text[b]}
    assert targets == expected and len(expected) == 23
    assert text["so762_0007-000070012"] == text["so762_0007-000070013"]

    again = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "data/so762_* and their trial lists are complete; skipped" in again.stdout
