"""EER / minDCF on hand-computed fixtures, order invariance, compute-metrics and make-results tools."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bccmt_tools.backend.metrics import compute_eer, compute_metrics, compute_min_dcf, parse_p_targets
from bccmt_tools.backend.results import BEGIN, END
from bccmt_tools.cli import main
from bccmt_tools.errors import BccmtError

# targets 0.9 0.7 0.4, nontargets 0.8 0.3 0.2 0.1. At threshold 0.4: P_miss 0, P_fa 1/4; at 0.7:
# P_miss 1/3, P_fa 1/4. The curves cross at alpha = 0.25 / (1/3) = 0.75 of that step:
# EER = 0.75 * 1/3 = 0.25, threshold 0.4 + 0.75 * 0.3 = 0.625.
SCORES = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1])
LABELS = np.array([1, 0, 1, 1, 0, 0, 0])


def test_eer_hand_computed_with_interpolation():
    eer = compute_eer(SCORES, LABELS)
    assert eer.eer == pytest.approx(0.25)
    assert eer.threshold == pytest.approx(0.625)


def test_min_dcf_hand_computed():
    # p=0.01: cost/0.01 = P_miss + 99 P_fa; best is threshold 0.9 (P_miss 2/3, P_fa 0).
    dcf = compute_min_dcf(SCORES, LABELS, 0.01)
    assert dcf.min_dcf == pytest.approx(2 / 3)
    assert dcf.threshold == pytest.approx(0.9)
    # p=0.5: cost/0.5 = P_miss + P_fa; best is threshold 0.4 (0 + 1/4).
    dcf = compute_min_dcf(SCORES, LABELS, 0.5)
    assert dcf.min_dcf == pytest.approx(0.25)
    assert dcf.threshold == pytest.approx(0.4)


def test_ties_move_together():
    # targets 0.5 0.5 0.9, nontargets 0.5 0.1: at 0.5 P_miss 0, P_fa 1/2; at 0.9 P_miss 2/3, P_fa 0.
    # alpha = 0.5 / (0.5 + 2/3) = 3/7, EER = 3/7 * 2/3 = 2/7.
    scores = np.array([0.5, 0.5, 0.9, 0.5, 0.1])
    labels = np.array([1, 1, 1, 0, 0])
    for order in ([0, 1, 2, 3, 4], [3, 0, 4, 1, 2], [4, 3, 2, 1, 0]):
        eer = compute_eer(scores[order], labels[order])
        assert eer.eer == pytest.approx(2 / 7)
        assert eer.threshold == pytest.approx(0.5 + 3 / 7 * 0.4)


def test_all_equal_scores():
    scores = np.full(6, 0.3)
    labels = np.array([1, 0, 1, 0, 0, 1])
    assert compute_eer(scores, labels).eer == pytest.approx(0.5)
    assert compute_eer(scores, labels).threshold == pytest.approx(0.3)
    # Accept-all costs 99 (normalised, p=0.01); reject-all costs 1.
    assert compute_min_dcf(scores, labels, 0.01).min_dcf == pytest.approx(1.0)


def test_perfect_separation():
    metrics = compute_metrics([3.0, 2.0, 1.0, 0.0], [1, 1, 0, 0])
    assert metrics["eer"] == 0.0
    assert all(v["min_dcf"] == 0.0 for v in metrics["min_dcf"].values())
    assert metrics["num_target"] == 2 and metrics["num_nontarget"] == 2


def test_metrics_invariant_to_trial_order(rng):
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.standard_normal(500) + labels, 1)  # rounding creates many ties
    reference = compute_metrics(scores, labels)
    for _ in range(3):
        order = rng.permutation(500)
        permuted = compute_metrics(scores[order], labels[order])
        for kind in ("target_scores", "nontarget_scores"):  # sums in another order: rounding only
            assert permuted.pop(kind) == pytest.approx(reference[kind])
        assert permuted == {k: v for k, v in reference.items() if not k.endswith("_scores")}


def test_eer_between_bracketing_operating_points(rng):
    labels = rng.integers(0, 2, 300)
    scores = rng.standard_normal(300) + 1.5 * labels
    eer = compute_eer(scores, labels).eer
    thresholds = np.unique(scores)
    p_miss = np.array([(scores[labels == 1] < t).mean() for t in thresholds])
    p_fa = np.array([(scores[labels == 0] >= t).mean() for t in thresholds])
    k = np.argmax(p_miss >= p_fa)
    assert min(p_fa[k], p_miss[k - 1]) <= eer <= max(p_fa[k - 1], p_miss[k])


def test_parse_p_targets():
    assert parse_p_targets("0.01, 0.05") == (0.01, 0.05)
    with pytest.raises(BccmtError, match="not a number"):
        parse_p_targets("0.01,x")
    with pytest.raises(BccmtError, match=r"not in \(0, 1\)"):
        parse_p_targets("1.5")


def _write_scores(path, scores, labels, with_labels=True):
    names = {1: "target", 0: "nontarget"}
    with open(path, "w") as handle:
        for i, (score, label) in enumerate(zip(scores, labels)):
            handle.write(f"e{i} t{i} {score}" + (f" {names[int(label)]}" if with_labels else "") + "\n")


def test_compute_metrics_tool_json_and_det(tmp_path):
    scores_path = tmp_path / "scores"
    _write_scores(scores_path, SCORES, LABELS)
    out = tmp_path / "metrics.json"
    det = tmp_path / "det.png"
    result = CliRunner().invoke(main, ["compute-metrics", "--json", "--out", str(out), "--tag", "backend=cosine",
                                       "--det-plot", str(det), str(scores_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["eer"] == pytest.approx(0.25)
    assert metrics["min_dcf"]["0.01"]["min_dcf"] == pytest.approx(2 / 3)
    assert metrics["tags"] == {"backend": "cosine"}
    pytest.importorskip("matplotlib")
    assert det.stat().st_size > 1000


def test_compute_metrics_labels_from_trials(tmp_path):
    scores_path = tmp_path / "scores"
    _write_scores(scores_path, SCORES, LABELS, with_labels=False)
    trials = tmp_path / "trials"
    trials.write_text("".join(f"{int(label)} e{i} t{i}\n" for i, label in enumerate(LABELS)))
    result = CliRunner().invoke(main, ["compute-metrics", "--trials", str(trials), str(scores_path)])
    assert result.exit_code == 0, result.output
    assert "EER: 25.0000%" in result.stdout


def test_make_results_inserts_and_replaces_rows(tmp_path):
    runner = CliRunner()
    results = tmp_path / "RESULTS.md"
    results.write_text("# My results\n\nNotes kept.\n")
    paths = []
    for backend, eer in (("cosine", 0.02), ("plda", 0.03)):
        path = tmp_path / f"{backend}.json"
        path.write_text(json.dumps({"eer_percent": 100 * eer, "min_dcf": {"0.01": {"min_dcf": 0.3},
                                    "0.05": {"min_dcf": 0.2}}, "tags": {"backend": backend, "trials": "vox1_O"}}))
        paths.append(str(path))
    args = ["make-results", "--model", "tiny", "--checkpoint", "avg_model.pt", str(results)]
    assert runner.invoke(main, args + paths).exit_code == 0
    text = results.read_text()
    assert "Notes kept." in text and BEGIN in text and END in text
    assert "| tiny | vox1_O | cosine | 2.000 | 0.3000 | 0.2000 | avg_model.pt | - | - |" in text
    # A new cosine result replaces the old row, the plda row stays.
    new = tmp_path / "cosine2.json"
    new.write_text(json.dumps({"eer_percent": 1.5, "min_dcf": {}, "tags": {"backend": "cosine", "trials": "vox1_O"}}))
    assert runner.invoke(main, args + [str(new)]).exit_code == 0
    text = results.read_text()
    assert text.count("| tiny | vox1_O | cosine |") == 1 and "| 1.500 |" in text
    assert "| tiny | vox1_O | plda | 3.000 |" in text
