"""DET figures: a data-driven axis range, several back-ends in one figure, links in RESULTS.md."""

import numpy as np
import pytest
from click.testing import CliRunner

from bccmt_tools.backend.det import (DET_TICKS, MAX_UPPER, MIN_UPPER, det_axis_limits, label_ticks, plot_det,
                                     summarize_det)
from bccmt_tools.backend.results import FIGURES_BEGIN, update_figures, update_results
from bccmt_tools.bin.make_results import cli as make_results_cli
from bccmt_tools.bin.plot_det import cli as plot_det_cli, curve_names
from bccmt_tools.errors import BccmtError

pytest.importorskip("matplotlib")


def _scores(separation, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n, dtype=int), np.zeros(n, dtype=int)]
    return np.r_[rng.normal(separation, 1.0, n), rng.normal(0.0, 1.0, n)], labels


def _write_scores(path, scores, labels, with_labels=True):
    with open(path, "w") as handle:
        for i, (score, label) in enumerate(zip(scores, labels)):
            tail = (" target" if label else " nontarget") if with_labels else ""
            handle.write(f"e{i} t{i} {score:.6f}{tail}\n")


def _write_trials(path, labels):
    with open(path, "w") as handle:
        for i, label in enumerate(labels):
            handle.write(f"e{i} t{i} {'target' if label else 'nontarget'}\n")


def test_range_covers_a_weak_systems_eer_with_room_above():
    # EER about 33%: the former fixed 40% limit put the EER point in the corner.
    summary = summarize_det("weak", *_scores(0.85))
    assert 0.30 < summary.eer < 0.37
    low, high = det_axis_limits([1 / 1000], [summary.eer])
    assert high >= 0.6 and high in DET_TICKS
    assert low <= 1 / 1000 and low in DET_TICKS


def test_range_of_a_good_system_is_the_usual_one_and_reaches_the_smallest_rate():
    low, high = det_axis_limits([1 / 37000, 1 / 500], [0.01, 0.03, 0.002])
    assert high == MIN_UPPER
    assert low <= 1 / 37000 < low * 2.5


def test_minDCF_points_near_rejecting_everything_stay_on_the_border():
    low, high = det_axis_limits([1e-3], [0.3, 0.9999])
    assert high == MAX_UPPER


def test_label_ticks_are_thinned_but_keep_both_ends_ordered():
    ticks = label_ticks(0.0002, 0.99)
    assert ticks[0] == 0.0002 and ticks == sorted(ticks)
    assert len(ticks) <= 15


def test_plot_det_is_backward_compatible_and_returns_its_range(tmp_path):
    out = tmp_path / "det.png"
    low, high = plot_det({"cosine": _scores(0.85)}, str(out), title="old call")
    assert out.stat().st_size > 1000
    assert high > 0.5  # the weak system's EER is inside the axes


def test_plot_det_refuses_nothing_to_draw(tmp_path):
    with pytest.raises(BccmtError, match="no score sets"):
        plot_det({}, str(tmp_path / "x.png"))


def test_plot_det_tool_draws_every_back_end_in_one_figure(tmp_path):
    trials = tmp_path / "vox1_O"
    paths = []
    for k, (name, separation) in enumerate([("cosine", 0.85), ("asnorm", 1.0), ("plda", 1.1)]):
        scores, labels = _scores(separation, seed=k)
        path = tmp_path / f"vox1_O.{name}"
        _write_scores(path, scores, labels, with_labels=False)
        paths.append(str(path))
    _write_trials(trials, labels)
    out = tmp_path / "vox1_O.det.svg"
    result = CliRunner().invoke(plot_det_cli, ["--trials", str(trials), "--out", str(out)] + paths)
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    for name in ("cosine", "asnorm", "plda"):
        assert f"{name}: EER" in svg  # one legend entry per back-end, with its EER
    assert "minDCF point, P_target 0.01" in svg


def test_plot_det_tool_errors_are_one_line(tmp_path):
    scores, labels = _scores(1.0, n=50)
    path = tmp_path / "s.cosine"
    _write_scores(path, scores, labels, with_labels=False)
    runner = CliRunner()
    result = runner.invoke(plot_det_cli, ["--out", str(tmp_path / "a.png"), str(path)])
    assert result.exit_code == 1 and "no labels; give --trials" in result.output
    result = runner.invoke(plot_det_cli, ["--out", str(tmp_path / "a.png"), "--name", "a", "--name", "b", str(path)])
    assert result.exit_code == 1 and "--name given 2 times for 1 score files" in result.output
    result = runner.invoke(plot_det_cli, ["--out", str(tmp_path / "a.png"), str(tmp_path / "missing.plda")])
    assert result.exit_code == 1 and "missing.plda: score file not found" in result.output
    assert not (tmp_path / "a.png").exists()


def test_curve_names_fall_back_to_file_names():
    assert curve_names(["x/vox1_O.cosine", "y/vox1_O.cosine"]) == ["x/vox1_O.cosine", "y/vox1_O.cosine"]
    assert curve_names(["a.cosine"], ["mine"]) == ["mine"]


def test_figure_links_are_relative_replaced_by_label_and_survive_table_updates(tmp_path):
    results = tmp_path / "exp" / "RESULTS.md"
    results.parent.mkdir()
    update_results(str(results), [["m", "vox1_O", "cosine", "30.000", "0.9", "0.8", "-", "-", "-"]])
    update_figures(str(results), [("vox1_O DET", str(tmp_path / "exp" / "scores" / "vox1_O.det.png"))])
    update_figures(str(results), [("vox1_O DET", str(tmp_path / "exp" / "scores" / "new.png")),
                                  ("vox1_E DET", str(tmp_path / "exp" / "scores" / "vox1_E.det.png"))])
    update_results(str(results), [["m", "vox1_O", "plda", "20.000", "0.9", "0.8", "-", "-", "-"]])
    text = results.read_text()
    assert text.count(FIGURES_BEGIN) == 1
    assert "![vox1_O DET](scores/new.png)" in text and "vox1_O.det.png" not in text
    assert "![vox1_E DET](scores/vox1_E.det.png)" in text
    assert "| m | vox1_O | cosine |" in text and "| m | vox1_O | plda |" in text


def test_make_results_figure_option(tmp_path):
    metrics = tmp_path / "m.json"
    metrics.write_text('{"eer_percent": 12.5, "min_dcf": {"0.01": {"min_dcf": 0.5}}, '
                       '"tags": {"trials": "vox1_O", "backend": "cosine"}}')
    results = tmp_path / "RESULTS.md"
    runner = CliRunner()
    result = runner.invoke(make_results_cli, ["--model", "m", "--figure", f"vox1_O DET={tmp_path}/d.png",
                                              str(results), str(metrics)])
    assert result.exit_code == 0, result.output
    assert "![vox1_O DET](d.png)" in results.read_text()
    result = runner.invoke(make_results_cli, ["--model", "m", "--figure", "no-equals-sign", str(results), str(metrics)])
    assert result.exit_code == 1 and "expected LABEL=PATH" in result.output
