"""tinyvox, the tiny corpus inside the repository (egs/voxceleb/tinyvox): complete, credited, small,
and reproducible by egs/voxceleb/make_tinyvox.py."""

import hashlib
import subprocess
import sys
from pathlib import Path

from tests.conftest import TINYVOX, is_tinyvox

SCRIPT = TINYVOX.parent / "make_tinyvox.py"
MAX_BYTES = 20_000_000  # the repository grows by at most 20 MB
SMALL = ["--test-speakers", "4", "--test-utts", "3", "--dev-speakers", "2", "--dev-utts", "3",
         "--train-speakers", "6", "--noise-clips", "3", "--babble-clips", "2", "--rooms-per-type", "1"]


def read_tsv(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:] if line]


def files_of(root):
    return {path.relative_to(root).as_posix(): path for path in sorted(root.rglob("*")) if path.is_file()}


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_tinyvox_files_are_listed_checksummed_and_small():
    files = files_of(TINYVOX)
    audio = {name for name in files if name.endswith((".wav", ".m4a"))}
    sources = read_tsv(TINYVOX / "file_sources.tsv")
    assert audio == {row["path"] for row in sources} and len(audio) == len(sources) > 500
    assert not [name for name in files if "/." in f"/{name}"]  # no hidden or temporary files

    sums = dict(reversed(line.split("  ", 1)) for line in (TINYVOX / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == set(files) - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(files[name].read_bytes()).hexdigest() == digest, name
    assert sum(path.stat().st_size for path in files.values()) <= MAX_BYTES

    speakers = read_tsv(TINYVOX / "speakers.tsv")
    folders = {name.split("/")[-3] for name in audio if name.startswith(("voxceleb1/", "voxceleb2/"))}
    assert {row["id"] for row in speakers} == folders
    for row in speakers:
        mine = [name for name in audio if name.split("/")[-3] == row["id"]]
        assert int(row["utterances"]) == len(mine) and int(row["videos"]) == len({n.split("/")[-2] for n in mine})
    parts = {row["part"] for row in speakers}
    assert parts == {"voxceleb1-test", "voxceleb1-dev", "voxceleb2-dev"}
    assert sum(row["part"] == "voxceleb2-dev" for row in speakers) >= 100  # enough to learn something


def test_tinyvox_readme_credits_every_source():
    readme = (TINYVOX / "README.md").read_text(encoding="utf-8")
    licences = {"speech_commands_v0.02_test": ("Speech Commands", "Pete Warden", "CC BY 4.0"),
                "librispeech_train-clean-100": ("LibriSpeech", "Panayotov", "CC BY 4.0"),
                "fsdd": ("Free Spoken Digit Dataset", "Zohar Jackson", "CC BY-SA 4.0"),
                "pyroomacoustics_ism": ("pyroomacoustics",)}
    used = {row["source"] for row in read_tsv(TINYVOX / "file_sources.tsv")}
    assert used <= set(licences), used - set(licences)
    for code in used:
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{code}` |"))
        for needle in licences[code]:
            assert needle in row or needle in readme.split("Attribution:", 1)[1], (code, needle)


def test_tinyvox_trial_lists_and_rir_lists_name_its_files():
    wav_root = TINYVOX / "voxceleb1" / "wav"
    meta = read_tsv(TINYVOX / "voxceleb1" / "vox1_meta.csv")
    test_speakers = {row["VoxCeleb1 ID"] for row in meta if row["Set"] == "test"}
    for name in ("veri_test2.txt", "list_test_all2.txt"):
        trials = [line.split() for line in (TINYVOX / "voxceleb1" / name).read_text().splitlines()]
        pairs = {frozenset((enrol, test)) for _, enrol, test in trials}
        assert len(pairs) == len(trials) and all(len(pair) == 2 for pair in pairs)  # no repeats, no self-pairs
        assert 2 * sum(label == "1" for label, _, _ in trials) == len(trials)  # cleaned lists: half target
        for label, enrol, test in trials:
            assert (wav_root / enrol).is_file() and (wav_root / test).is_file()
            assert (enrol.split("/")[0] == test.split("/")[0]) == (label == "1")
        listed = {u for _, enrol, test in trials for u in (enrol, test)}
        speakers = {u.split("/")[0] for u in listed}
        if name == "veri_test2.txt":
            assert speakers == test_speakers
        # every utterance of the list's speakers is used, as enrolment and as test
        assert listed == {p.relative_to(wav_root).as_posix() for s in speakers for p in (wav_root / s).glob("*/*.wav")}
        assert {enrol for _, enrol, _ in trials} == {test for _, _, test in trials} == listed
    rir_lists = sorted((TINYVOX / "RIRS_NOISES" / "simulated_rirs").glob("*/rir_list"))
    rirs = [line.split()[-1] for path in rir_lists for line in path.read_text().splitlines()]
    assert len(rir_lists) == 3 and rirs
    assert sorted(rirs) == sorted(n for n in files_of(TINYVOX) if n.startswith("RIRS_NOISES/") and n.endswith(".wav"))


def test_make_tinyvox_is_deterministic(minivox, tmp_path):
    """From the mini corpus ($BCCMT_DATA), the script's defaults give tinyvox byte for byte; from
    tinyvox itself (no BCCMT_DATA), a smaller slice twice gives the same bytes both times."""
    if is_tinyvox(minivox):
        outs = [tmp_path / "a", tmp_path / "b"]
        for out in outs:
            result = run_script("--src", TINYVOX, "--out", out, *SMALL)
            assert result.returncode == 0, result.stderr
        first, second = files_of(outs[0]), files_of(outs[1])
        assert len([n for n in first if n.endswith((".wav", ".m4a"))]) == 4 * 3 + 2 * 3 + 3 + 2 + 3 * 4 + sum(
            int(row["utterances"]) for row in read_tsv(outs[0] / "speakers.tsv") if row["part"] == "voxceleb2-dev")
        originals = files_of(TINYVOX)
        for name, path in first.items():
            if name.endswith((".wav", ".m4a")):
                assert path.read_bytes() == originals[name].read_bytes(), name  # copies, not re-encodings
    else:
        result = run_script("--src", minivox, "--out", tmp_path / "tinyvox")
        assert result.returncode == 0, result.stderr
        first, second = files_of(tmp_path / "tinyvox"), files_of(TINYVOX)
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_make_tinyvox_refuses_impossible_requests(tmp_path):
    result = run_script("--src", TINYVOX, "--out", tmp_path / "x", "--test-speakers", "999")
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "make_tinyvox.py: error: asked for 999 voxceleb1-test speakers with 6 utterances, the source has 20"]
    result = run_script("--src", TINYVOX, "--out", tmp_path / "x", *SMALL, "--test-utts", "2")
    assert result.returncode == 1 and "at least 3 per speaker" in result.stderr
    result = run_script("--src", tmp_path, "--out", tmp_path / "x")
    assert result.returncode == 1 and "speakers.tsv: not found" in result.stderr
    assert not (tmp_path / "x").exists()
    assert Path(SCRIPT).stat().st_mode & 0o111  # executable, as the recipe's other local/ scripts
