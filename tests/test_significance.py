"""Bootstrap intervals of EER and relative EER change (backend/significance.py, compare-systems)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bccmt_tools.backend.significance import eer_interval, relative_eer_change, verdict
from bccmt_tools.cli import main
from bccmt_tools.errors import BccmtError


def synthetic(num_speakers=30, trials_per_speaker=40, noise=(0.5,), seed=0):
    rng = np.random.default_rng(seed)
    labels = np.tile([1, 0], num_speakers * trials_per_speaker // 2)
    speakers = np.repeat(np.arange(num_speakers), trials_per_speaker)
    runs = [labels + rng.normal(0, sigma, labels.size) for sigma in noise]
    return labels, speakers, runs


def test_identical_systems_give_an_interval_around_zero():
    labels, speakers, runs = synthetic(noise=(0.6, 0.6, 0.6))
    change = relative_eer_change(runs, runs, labels, speakers, num_bootstrap=300)
    assert change.change == 0 and change.low <= 0 <= change.high
    assert verdict(change).startswith("unresolved")


def test_a_clearly_better_system_is_resolved_and_a_claim_against_it_contradicted():
    labels, speakers, old = synthetic(noise=(0.8, 0.8), seed=1)
    _, _, new = synthetic(noise=(0.4, 0.4), seed=2)
    change = relative_eer_change(new, old, labels, speakers, num_bootstrap=300)
    assert change.high < 0 and change.eer_new < change.eer_old
    assert verdict(change, expected=-0.1).startswith("reproduced")
    worse = relative_eer_change(old, new, labels, speakers, num_bootstrap=300)
    assert worse.low > 0 and verdict(worse, expected=-0.1).startswith("contradicted")


def test_more_speakers_give_a_narrower_interval():
    small = synthetic(num_speakers=10, noise=(0.6,))
    large = synthetic(num_speakers=80, noise=(0.6,))
    width = [eer_interval(runs, labels, spk, num_bootstrap=300).high - eer_interval(runs, labels, spk,
                                                                                    num_bootstrap=300).low
             for labels, spk, runs in (small, large)]
    assert width[1] < width[0]


def test_seed_spread_widens_the_interval():
    labels, speakers, _ = synthetic()
    rng = np.random.default_rng(5)
    # Three seeds that disagree a lot vs three copies of one seed.
    spread = [labels + rng.normal(0, sigma, labels.size) for sigma in (0.3, 0.6, 0.9)]
    same = [spread[1]] * 3
    wide = eer_interval(spread, labels, speakers, num_bootstrap=400)
    narrow = eer_interval(same, labels, speakers, num_bootstrap=400)
    assert (wide.high - wide.low) > (narrow.high - narrow.low)


def test_misaligned_scores_are_refused():
    labels, speakers, runs = synthetic()
    with pytest.raises(BccmtError, match="same trials in the same order"):
        relative_eer_change([runs[0][:-1]], runs, labels, speakers)


def test_compare_systems_tool(tmp_path):
    labels, speakers, old = synthetic(num_speakers=12, trials_per_speaker=20, noise=(0.9,), seed=3)
    _, _, new = synthetic(num_speakers=12, trials_per_speaker=20, noise=(0.3,), seed=4)
    trials, utt2spk, files = [], {}, {}
    for i, (label, spk) in enumerate(zip(labels, speakers)):
        enroll, test = f"s{spk}-e{i}", f"t{i}"
        utt2spk[enroll] = f"s{spk}"
        trials.append(f"{enroll} {test} {'target' if label else 'nontarget'}")
    (tmp_path / "trials").write_text("\n".join(trials) + "\n")
    (tmp_path / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in sorted(utt2spk.items())))
    for name, runs in (("old", old), ("new", new)):
        # Written in reverse trial order: alignment is by key, not by line.
        lines = [f"{t.split()[0]} {t.split()[1]} {score:.6f}" for t, score in zip(trials, runs[0])][::-1]
        files[name] = tmp_path / f"{name}.scores"
        files[name].write_text("\n".join(lines) + "\n")
    args = ["compare-systems", "--trials", str(tmp_path / "trials"), "--utt2spk", str(tmp_path / "utt2spk"),
            "--old", str(files["old"]), "--new", str(files["new"]), "--num-bootstrap", "200", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["new"]["eer"] < data["old"]["eer"] and data["high"] < 0 and data["num_speakers"] == 12
    files["new"].write_text(files["new"].read_text().split("\n", 1)[1])  # drop one scored trial
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "trial(s) of" in result.output and "not scored" in result.output
