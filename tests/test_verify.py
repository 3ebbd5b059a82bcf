"""bccmt verify: audio -> decisions in one go, thresholds given or calibrated on a score file."""

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from bccmt_tools.backend.decisions import threshold_from_scores
from bccmt_tools.cli import main
from bccmt_tools.models import build_model


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    """A fake experiment dir holding a randomly initialised tiny BC-CMT."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with open("bccmt_tools/conf/models/bccmt_tiny.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["features"] = {"num_mel_bins": 80, "cmn": True}
    path = tmp_path_factory.mktemp("exp") / "tiny"
    path.mkdir()
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save({"model": build_model(config).state_dict()}, path / "avg_model.pt")
    return path


@pytest.fixture
def user_data(tmp_path, make_wav):
    keys = ["alice-1", "alice-2", "bob-1"]
    freqs = [220, 230, 600]
    lines = [f"{key} {make_wav(f'{key}.wav', seconds=0.6, freq=f)}\n" for key, f in zip(keys, freqs)]
    (tmp_path / "wav.scp").write_text("".join(lines))
    (tmp_path / "trials").write_text("alice-1 alice-2\nalice-1 bob-1\n")
    return tmp_path


def _run(args):
    result = CliRunner().invoke(main, ["verify", "--device", "cpu", *args])
    return result


def test_verify_prints_decisions_with_threshold(user_data, exp_dir):
    args = ["--exp", str(exp_dir), "--wav-scp", str(user_data / "wav.scp"), "--trials", str(user_data / "trials")]
    scores = _run(args)
    assert scores.exit_code == 0, scores.output
    rows = [line.split() for line in scores.stdout.splitlines()]
    assert [r[:2] for r in rows] == [["alice-1", "alice-2"], ["alice-1", "bob-1"]] and len(rows[0]) == 3
    values = [float(r[2]) for r in rows]
    threshold = sum(values) / 2
    result = _run(args + ["--threshold", str(threshold), "--out", str(user_data / "decisions")])
    assert result.exit_code == 0, result.output
    decisions = [line.split() for line in (user_data / "decisions").read_text().splitlines()]
    expected = ["accept" if v >= threshold else "reject" for v in values]
    assert [d[3] for d in decisions] == expected
    np.testing.assert_allclose([float(d[2]) for d in decisions], values, atol=1e-6)


def test_verify_calibrates_threshold_on_scores(user_data, exp_dir):
    calibration = user_data / "calib"
    # At 0.5: P_miss 1/2 = P_fa 1/2 (EER); with P_target 0.01 only 0.9 (P_fa 0) pays off.
    calibration.write_text("a b 0.9 target\na c 0.2 nontarget\nb c 0.5 nontarget\nb d 0.4 target\n")
    assert threshold_from_scores(calibration, "eer") == pytest.approx(0.5)
    assert threshold_from_scores(calibration, "mindcf0.01") == pytest.approx(0.9)
    result = _run(["--exp", str(exp_dir), "--wav-scp", str(user_data / "wav.scp"), "--trials",
                   str(user_data / "trials"), "--calibrate-on", str(calibration), "--operating-point", "mindcf0.01"])
    assert result.exit_code == 0, result.output
    assert "threshold 0.9" in result.stderr
    assert all(line.split()[3] in ("accept", "reject") for line in result.stdout.splitlines())


def test_verify_enrolment_by_speaker(user_data, exp_dir):
    (user_data / "spk2utt").write_text("alice alice-1 alice-2\n")
    (user_data / "trials2").write_text("alice bob-1 nontarget\n")
    result = _run(["--exp", str(exp_dir), "--wav-scp", str(user_data / "wav.scp"), "--trials",
                   str(user_data / "trials2"), "--enroll-spk2utt", str(user_data / "spk2utt"), "--threshold", "0.5"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split()[:2] == ["alice", "bob-1"]


def test_verify_names_a_key_missing_from_wav_scp(user_data, exp_dir):
    (user_data / "trials").write_text("alice-1 carol-1\n")
    result = _run(["--exp", str(exp_dir), "--wav-scp", str(user_data / "wav.scp"), "--trials",
                   str(user_data / "trials"), "--threshold", "0.5"])
    assert result.exit_code == 1
    assert "key 'carol-1': used in the trials but not in wav.scp" in result.output
