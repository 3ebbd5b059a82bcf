"""The Python API (SpeakerVerifier) gives the numbers of `bccmt verify`; verify --calibration decides
at the Bayes threshold; `import bccmt_tools` stays light and from_onnx runs without torch."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner

from bccmt_tools import SpeakerVerifier
from bccmt_tools.backend.calibration import Calibration
from bccmt_tools.cli import main
from bccmt_tools.errors import BccmtError
from tests.conftest import write_wav
from tests.test_extract import make_exp

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    """A tiny BC-CMT with random weights (non-trivial BatchNorm statistics) and its ONNX export."""
    torch.set_num_threads(1)
    path = make_exp(tmp_path_factory.mktemp("api") / "tiny")
    result = CliRunner().invoke(main, ["export", "--exp", str(path), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def user_data(tmp_path_factory):
    """Four utterances of two 'speakers' (different tones, different lengths), trials and a calibration."""
    root = tmp_path_factory.mktemp("api_data")
    rng = np.random.default_rng(3)
    lines = []
    for key, hz, seconds in (("alice-1", 180, 0.9), ("alice-2", 190, 1.3), ("bob-1", 520, 1.1), ("bob-2", 540, 0.7)):
        t = np.arange(int(16000 * seconds)) / 16000
        samples = 0.25 * np.sin(2 * np.pi * hz * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t)) \
            + 0.02 * rng.standard_normal(t.size)
        lines.append(f"{key} {write_wav(root / f'{key}.wav', samples)}\n")
    (root / "wav.scp").write_text("".join(lines))
    (root / "trials").write_text("alice-1 alice-2\nalice-1 bob-1\nbob-1 bob-2\nalice-2 bob-2\n")
    (root / "spk2utt").write_text("alice alice-1 alice-2\n")
    (root / "spk_trials").write_text("alice bob-1\nalice bob-2\n")
    Calibration(12.0, -6.0, {"duration": [0.5, -0.25]}).save(root / "cal.json")
    return root


def _cli(args):
    result = CliRunner().invoke(main, ["verify", "--device", "cpu", *args])
    assert result.exit_code == 0, result.output
    return [line.split() for line in result.stdout.splitlines()]


def _wav(user_data, key):
    return str(user_data / f"{key}.wav")


def test_api_scores_equal_cli_scores(exp_dir, user_data):
    rows = _cli(["--exp", str(exp_dir), "--wav-scp", str(user_data / "wav.scp"), "--trials", str(user_data / "trials")])
    verifier = SpeakerVerifier.from_exp(exp_dir)
    api = [verifier.score(_wav(user_data, e), _wav(user_data, t)) for e, t, _ in rows]
    np.testing.assert_allclose(api, [float(r[2]) for r in rows], atol=2e-6)  # the CLI prints 6 decimals
    assert np.ptp(api) > 1e-3  # the trials really differ
    # arrays give the same embedding as the files they were read from
    samples, rate = soundfile.read(_wav(user_data, "bob-1"), dtype="float32")
    np.testing.assert_allclose(verifier.embed(samples, sample_rate=rate), verifier.embed(_wav(user_data, "bob-1")),
                               atol=1e-6)


def test_api_enrolment_equals_cli_enroll_spk2utt(exp_dir, user_data):
    rows = _cli(["--exp", str(exp_dir), "--wav-scp", str(user_data / "wav.scp"), "--trials",
                 str(user_data / "spk_trials"), "--enroll-spk2utt", str(user_data / "spk2utt")])
    verifier = SpeakerVerifier.from_exp(exp_dir)
    verifier.enroll("alice", [_wav(user_data, "alice-1"), _wav(user_data, "alice-2")])
    api = [verifier.score("alice", _wav(user_data, t)) for _, t, _ in rows]
    np.testing.assert_allclose(api, [float(r[2]) for r in rows], atol=2e-6)


def test_calibrated_verify_cli_and_api_agree(exp_dir, user_data):
    """verify --calibration prints 'score llr decision' at the Bayes threshold; the API gives the same."""
    base = ["--exp", str(exp_dir), "--wav-scp", str(user_data / "wav.scp"), "--trials", str(user_data / "trials"),
            "--calibration", str(user_data / "cal.json")]
    rows = _cli(base + ["--p-target", "0.01"])
    durations = {key: soundfile.info(_wav(user_data, key)).duration for key in ("alice-1", "alice-2", "bob-1", "bob-2")}
    threshold = np.log(99.0)
    for enroll, test, score, llr, decision in rows:
        short, long = sorted((durations[enroll], durations[test]))
        expected = 12.0 * float(score) - 6.0 + 0.5 * np.log(short) - 0.25 * np.log(long)
        assert float(llr) == pytest.approx(expected, abs=1e-3)
        assert decision == ("accept" if float(llr) >= threshold else "reject")
    verifier = SpeakerVerifier.from_exp(exp_dir, calibration=user_data / "cal.json", p_target=0.01)
    for enroll, test, score, llr, decision in rows:
        result = verifier.verify(_wav(user_data, enroll), _wav(user_data, test))
        assert result.score == pytest.approx(float(score), abs=2e-6)
        assert result.llr == pytest.approx(float(llr), abs=1e-3)
        assert result.accept == (decision == "accept") and result.threshold == pytest.approx(threshold)
    # a prior that accepts more: the Bayes threshold falls, decisions follow the LLR
    loose = verifier.verify(_wav(user_data, "alice-1"), _wav(user_data, "alice-2"), p_target=0.99)
    assert loose.threshold == pytest.approx(-np.log(99.0)) and loose.accept == (loose.llr >= -np.log(99.0))
    # LLRs without decisions, and the option checks
    assert all(len(row) == 4 for row in _cli(base))
    bad = CliRunner().invoke(main, ["verify", "--exp", str(exp_dir), "--wav-scp", str(user_data / "wav.scp"),
                                    "--trials", str(user_data / "trials"), "--p-target", "0.01"])
    assert bad.exit_code == 1 and "--p-target needs --calibration" in bad.output


def test_api_errors_are_one_line(exp_dir, user_data):
    verifier = SpeakerVerifier.from_exp(exp_dir)
    with pytest.raises(BccmtError, match="no calibration loaded"):
        verifier.verify(_wav(user_data, "alice-1"), _wav(user_data, "bob-1"))
    with pytest.raises(BccmtError, match="give a list of utterances"):
        verifier.enroll("alice", _wav(user_data, "alice-1"))
    with pytest.raises(BccmtError, match="too little speech"):
        verifier.embed(np.zeros(16000, dtype=np.float32))  # silence is nobody


_ONNX_WITHOUT_TORCH = """
import json, sys
sys.modules['torch'] = None
sys.modules['torchaudio'] = None
from bccmt_tools import SpeakerVerifier
root, onnx_path = sys.argv[1], sys.argv[2]
verifier = SpeakerVerifier.from_onnx(onnx_path, calibration=root + '/cal.json')
pairs = [line.split() for line in open(root + '/trials')]
out = [[verifier.score(f'{root}/{a}.wav', f'{root}/{b}.wav'), verifier.verify(f'{root}/{a}.wav', f'{root}/{b}.wav').llr]
       for a, b in pairs]
print(json.dumps(out))
"""


def test_from_onnx_runs_without_torch_and_equals_verify_onnx(exp_dir, user_data):
    result = subprocess.run([sys.executable, "-c", _ONNX_WITHOUT_TORCH, str(user_data), str(exp_dir / "model.onnx")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    api = np.array(json.loads(result.stdout))
    rows = _cli(["--onnx", str(exp_dir / "model.onnx"), "--wav-scp", str(user_data / "wav.scp"), "--trials",
                 str(user_data / "trials"), "--calibration", str(user_data / "cal.json")])
    np.testing.assert_allclose(api[:, 0], [float(r[2]) for r in rows], atol=2e-6)
    np.testing.assert_allclose(api[:, 1], [float(r[3]) for r in rows], atol=1e-3)


def test_import_bccmt_tools_is_light():
    code = "import sys, bccmt_tools; print(sorted(m for m in ('torch', 'numpy', 'torchaudio') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
