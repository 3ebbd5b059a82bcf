"""Calibration: Cllr, min Cllr (PAV), actual DCF; train-calibration / calibrate-scores; compute-metrics
reports them; verify --calibration decides at the Bayes threshold."""

import json

import kaldiio
import numpy as np
import pytest
from click.testing import CliRunner

from bccmt_tools.backend.calibration import Calibration, pair_features, train_calibration
from bccmt_tools.backend.metrics import (bayes_threshold, compute_act_dcf, compute_cllr, compute_metrics,
                                         compute_min_cllr, compute_min_dcf, pav_llrs)
from bccmt_tools.cli import main
from bccmt_tools.errors import BccmtError


def _gaussian_trials(rng, n_target, n_nontarget, mu=(0.6, 0.2), sigma=0.1):
    labels = np.concatenate([np.ones(n_target, dtype=int), np.zeros(n_nontarget, dtype=int)])
    scores = np.where(labels == 1, mu[0], mu[1]) + sigma * rng.standard_normal(labels.size)
    return scores, labels


def test_cllr_values():
    assert compute_cllr([0.0, 0.0, 0.0], [1, 0, 0]) == pytest.approx(1.0)
    # confident and right: near 0; confident and wrong: many bits
    assert compute_cllr([30.0, -30.0], [1, 0]) < 1e-9
    assert compute_cllr([-10.0, 10.0], [1, 0]) == pytest.approx(10.0 / np.log(2), rel=1e-3)


def test_min_cllr_ignores_monotone_maps_and_bounds_cllr(rng):
    scores, labels = _gaussian_trials(rng, 300, 700)
    minimum = compute_min_cllr(scores, labels)
    assert compute_min_cllr(np.exp(5 * scores), labels) == pytest.approx(minimum)  # same ranking
    for weight, offset in ((40, -16), (10, -3), (80, -30)):
        assert compute_cllr(weight * scores + offset, labels) >= minimum
    assert compute_min_cllr([1.0, 2.0, 3.0, 4.0], [0, 0, 1, 1]) == 0.0


def test_pav_llrs_are_monotone_and_tie_consistent():
    scores = np.array([0.1, 0.5, 0.5, 0.2, 0.9, 0.3, 0.5])
    labels = np.array([0, 1, 0, 1, 1, 0, 1])
    llrs = pav_llrs(scores, labels)
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(llrs[order]) >= 0)
    assert len(set(llrs[scores == 0.5])) == 1


def test_act_dcf_at_bayes_threshold():
    assert bayes_threshold(0.01) == pytest.approx(np.log(99))
    assert bayes_threshold(0.1, c_miss=10) == pytest.approx(np.log(0.9 / 1.0))
    result = compute_act_dcf([5.0, 4.0, 4.7, -3.0], [1, 1, 0, 0], 0.01)
    # accepted: 5.0 (target) and 4.7 (nontarget): P_miss 1/2, P_fa 1/2 -> (0.01 * 0.5 + 0.99 * 0.5) / 0.01
    assert (result.p_miss, result.p_fa) == (0.5, 0.5)
    assert result.act_dcf == pytest.approx(50.0)


def test_act_dcf_never_below_min_dcf(rng):
    scores, labels = _gaussian_trials(rng, 200, 800)
    for llrs in (scores, 40 * scores - 16, 20 * scores):
        for p_target in (0.01, 0.05, 0.5):
            assert compute_act_dcf(llrs, labels, p_target).act_dcf >= compute_min_dcf(llrs, labels, p_target).min_dcf


def test_training_recovers_the_true_llr(rng):
    # Two Gaussians of equal variance: the true LLR is (mu1 - mu0) / sigma^2 * (s - (mu1 + mu0) / 2) = 40 s - 16.
    scores, labels = _gaussian_trials(rng, 20000, 20000)
    calibration = train_calibration(scores, labels, prior=0.5)
    assert calibration.score_weight == pytest.approx(40, rel=0.08)
    assert calibration.offset == pytest.approx(-16, rel=0.08)
    assert calibration.info["cllr"] < calibration.info["cllr_before"]
    assert calibration.info["cllr"] == pytest.approx(calibration.info["min_cllr"], abs=0.01)


def test_calibrated_scores_have_act_dcf_close_to_min_dcf(rng):
    train_scores, train_labels = _gaussian_trials(rng, 300, 3000, sigma=0.15)
    test_scores, test_labels = _gaussian_trials(rng, 300, 3000, sigma=0.15)
    raw = compute_metrics(test_scores, test_labels)
    assert raw["act_dcf"]["0.01"]["act_dcf"] == pytest.approx(1.0)  # cosines are far below the 4.6 threshold
    calibration = train_calibration(train_scores, train_labels, prior=0.01)
    calibrated = compute_metrics(calibration.llr(test_scores), test_labels)
    assert calibrated["min_dcf"]["0.01"]["min_dcf"] == pytest.approx(raw["min_dcf"]["0.01"]["min_dcf"])
    assert calibrated["act_dcf"]["0.01"]["act_dcf"] < 1.15 * calibrated["min_dcf"]["0.01"]["min_dcf"]
    assert calibrated["cllr"] < raw["cllr"]


def test_quality_measures_shift_the_llr(rng):
    # Non-target and target scores both rise with the embedding norms: a score-only calibration
    # cannot undo that, one with the 'norm' quality measure can (true weights -4 * 0.4 = -1.6 each).
    n = 6000
    labels = rng.integers(0, 2, n)
    enroll_norm, test_norm = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    scores = labels + 0.4 * (enroll_norm + test_norm) + 0.5 * rng.standard_normal(n)
    quality = {"norm": pair_features("norm", enroll_norm, test_norm)}
    plain = train_calibration(scores, labels, prior=0.5)
    with_quality = train_calibration(scores, labels, prior=0.5, quality=quality)
    assert with_quality.info["cllr"] < plain.info["cllr"] - 0.02
    np.testing.assert_allclose(with_quality.quality["norm"], [-1.6, -1.6], rtol=0.15)
    with pytest.raises(BccmtError, match="quality measure 'norm'"):
        with_quality.llr(scores)


def test_constant_quality_features_get_weight_zero(rng):
    scores, labels = _gaussian_trials(rng, 100, 100)
    durations = pair_features("duration", np.full(200, 1.0), np.full(200, 1.0))
    calibration = train_calibration(scores, labels, quality={"duration": durations})
    assert calibration.quality["duration"] == [0.0, 0.0]
    assert calibration.info["constant_features"] == ["duration.log_min_duration", "duration.log_max_duration"]


def test_save_load_round_trip_and_bad_files(tmp_path, rng):
    scores, labels = _gaussian_trials(rng, 100, 100)
    quality = {"duration": pair_features("duration", rng.uniform(1, 5, 200), rng.uniform(1, 5, 200))}
    calibration = train_calibration(scores, labels, quality=quality)
    path = tmp_path / "cal.json"
    calibration.save(path)
    loaded = Calibration.load(path)
    np.testing.assert_allclose(loaded.llr(scores, quality), calibration.llr(scores, quality))
    assert loaded.measures == ["duration"]
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BccmtError, match="not a calibration file"):
        Calibration.load(path)
    path.write_text(json.dumps({"format": "bccmt-calibration", "version": 1, "offset": 1.0}))
    with pytest.raises(BccmtError, match="malformed calibration"):
        Calibration.load(path)
    with pytest.raises(BccmtError, match="not found"):
        Calibration.load(tmp_path / "missing.json")
    with pytest.raises(BccmtError, match="every score is the same"):
        train_calibration(np.ones(4), [1, 0, 1, 0])


def _write_scores(path, enroll, test, scores, labels=None):
    with open(path, "w") as handle:
        for i, (e, t, s) in enumerate(zip(enroll, test, scores)):
            label = "" if labels is None else (" target" if labels[i] else " nontarget")
            handle.write(f"{e} {t} {s:.6f}{label}\n")


def test_tools_train_apply_and_report(tmp_path, rng):
    """train-calibration (with embedding norms) -> calibrate-scores -> compute-metrics: actDCF near minDCF."""
    num_utts = 400
    keys = [f"u{i}" for i in range(num_utts)]
    norms = rng.uniform(5, 15, num_utts)
    vectors = rng.standard_normal((num_utts, 8))
    vectors *= (norms / np.linalg.norm(vectors, axis=1))[:, None]
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'emb.ark'},{tmp_path / 'emb.scp'}") as writer:
        for key, vector in zip(keys, vectors):
            writer(key, vector.astype(np.float32))

    def trials(count):
        a, b = rng.integers(0, num_utts, count), rng.integers(0, num_utts, count)
        labels = rng.integers(0, 5, count) == 0
        scores = 0.4 * labels + 0.01 * (norms[a] + norms[b]) + 0.12 * rng.standard_normal(count)
        return [keys[i] for i in a], [keys[i] for i in b], scores, labels

    _write_scores(tmp_path / "train.scores", *trials(4000))
    _write_scores(tmp_path / "test.scores", *trials(4000))
    runner = CliRunner()
    result = runner.invoke(main, ["train-calibration", "--embeddings", f"scp:{tmp_path / 'emb.scp'}",
                                  str(tmp_path / "train.scores"), str(tmp_path / "cal.json")])
    assert result.exit_code == 0, result.output
    assert "Cllr" in result.stderr and "quality norm" in result.stderr
    missing = runner.invoke(main, ["calibrate-scores", "--calibration", str(tmp_path / "cal.json"),
                                   str(tmp_path / "test.scores"), str(tmp_path / "test.llr")])
    assert missing.exit_code == 1 and "quality measure 'norm'" in missing.output
    result = runner.invoke(main, ["calibrate-scores", "--calibration", str(tmp_path / "cal.json"), "--embeddings",
                                  f"scp:{tmp_path / 'emb.scp'}", str(tmp_path / "test.scores"),
                                  str(tmp_path / "test.llr")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "test.llr").read_text().splitlines()
    assert len(lines) == 4000 and lines[0].split()[3] in ("target", "nontarget")
    result = runner.invoke(main, ["compute-metrics", "--json", "--out", str(tmp_path / "m.json"),
                                  "--plot", str(tmp_path / "scores.png"), str(tmp_path / "test.llr")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    for p_target in ("0.01", "0.05"):
        assert metrics["act_dcf"][p_target]["act_dcf"] < 1.2 * metrics["min_dcf"][p_target]["min_dcf"]
    assert metrics["cllr"] < 0.6 and metrics["min_cllr"] <= metrics["cllr"]
    text = runner.invoke(main, ["compute-metrics", str(tmp_path / "test.llr")]).stdout
    assert "actDCF(p_target=0.01" in text and "Cllr:" in text and text.startswith("EER:")
    pytest.importorskip("matplotlib")
    assert (tmp_path / "scores.png").stat().st_size > 5000


def test_train_calibration_needs_labels(tmp_path):
    _write_scores(tmp_path / "s", ["a", "b"], ["c", "d"], [0.1, 0.2])
    result = CliRunner().invoke(main, ["train-calibration", str(tmp_path / "s"), str(tmp_path / "c.json")])
    assert result.exit_code == 1 and "no labels" in result.output
    assert not (tmp_path / "c.json").exists()


def test_make_results_writes_the_calibration_table(tmp_path, rng):
    from bccmt_tools.backend.results import CALIBRATION_BEGIN, CALIBRATION_END, END

    scores, labels = _gaussian_trials(rng, 100, 900)
    calibration = train_calibration(scores, labels, prior=0.01)
    paths = []
    for backend, values in (("cosine", scores), ("cosine_cal", calibration.llr(scores))):
        metrics = compute_metrics(values, labels)
        metrics["tags"] = {"backend": backend, "trials": "vox1_O"}
        paths.append(tmp_path / f"{backend}.json")
        paths[-1].write_text(json.dumps(metrics))
    old = tmp_path / "old.json"  # a metrics file written before actDCF existed: results row only
    old.write_text(json.dumps({"eer_percent": 3.0, "min_dcf": {}, "tags": {"backend": "plda", "trials": "vox1_O"}}))
    results = tmp_path / "RESULTS.md"
    args = ["make-results", "--model", "tiny", str(results)]
    result = CliRunner().invoke(main, args + [str(p) for p in paths + [old]])
    assert result.exit_code == 0, result.output
    text = results.read_text()
    assert text.index(END) < text.index(CALIBRATION_BEGIN) < text.index(CALIBRATION_END)
    block = text[text.index(CALIBRATION_BEGIN):text.index(CALIBRATION_END)]
    rows = {line.split("|")[3].strip(): [c.strip() for c in line.split("|")[4:-1]]
            for line in block.splitlines() if line.startswith("| tiny")}
    assert set(rows) == {"cosine", "cosine_cal"}
    assert rows["cosine"][1] == "1.0000"  # raw cosines as LLRs: reject everything
    assert float(rows["cosine_cal"][1]) < 0.5  # calibrated: far below the raw 1.0
    # a second run replaces rows, keeps one block
    assert CliRunner().invoke(main, args + [str(paths[1])]).exit_code == 0
    assert results.read_text().count(CALIBRATION_BEGIN) == 1
