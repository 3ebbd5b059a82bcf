"""The decision rule, in one place: accept a trial when its score (or, calibrated, its LLR) is at
least the threshold. The threshold is given, taken from a labelled score file's operating point
(``eer``, ``mindcf<P_target>``, same model and back-end), or, on calibrated LLRs, the Bayes
threshold of a target prior and the costs.

>>> accepts([0.2, 0.5, 0.7], 0.5).tolist()
[False, True, True]
>>> round(llr_threshold(p_target=0.01), 4), llr_threshold(threshold=1.5), llr_threshold() is None
(4.5951, 1.5, True)
"""

import re

import numpy as np

from bccmt_tools.backend.metrics import bayes_threshold, compute_metrics
from bccmt_tools.backend.scoring import read_scores
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.score_format import score_lines

OPERATING_POINTS = ("eer", "mindcf0.01", "mindcf0.05")


def accepts(values, threshold):
    """Accept (True) where ``value >= threshold``: scores against a score threshold, LLRs against
    an LLR threshold."""
    return np.asarray(values, dtype=np.float64) >= threshold


def llr_threshold(threshold=None, p_target=None, c_miss=1.0, c_fa=1.0, default_p_target=None, where="",
                  names=("--threshold", "--p-target")):
    """The threshold on calibrated LLRs: ``threshold`` itself, else the Bayes threshold
    ``log((1 - P) / P * C_fa / C_miss)`` of ``p_target`` (or ``default_p_target``); None when
    neither is given. Both given is an error, the options named by ``names`` after ``where``."""
    if threshold is not None and p_target is not None:
        raise BccmtError(f"{where}give {names[1]} (Bayes threshold) or {names[0]} (on the LLR), not both")
    if threshold is not None:
        return threshold
    prior = default_p_target if p_target is None else p_target
    return None if prior is None else bayes_threshold(prior, c_miss, c_fa)


def decision_setup(threshold=None, calibrate_on=None, calibration_path=None, p_target=None, c_miss=1.0, c_fa=1.0):
    """``(threshold or None, Calibration or None)`` from ``verify``'s choices: a score threshold
    (given, or later from the score file ``calibrate_on``), or a calibration whose LLRs are
    compared with ``threshold`` or the Bayes threshold of ``p_target``. Conflicting choices are
    an error naming the options."""
    if threshold is not None and calibrate_on:
        raise BccmtError("give --threshold or --calibrate-on, not both")
    if p_target is not None and not calibration_path:
        raise BccmtError("--p-target needs --calibration (LLRs to compare with the Bayes threshold)")
    if not calibration_path:
        return threshold, None
    from bccmt_tools.backend.calibration import Calibration

    if calibrate_on:
        raise BccmtError("give --calibration (LLRs, Bayes threshold) or --calibrate-on (score threshold), not both")
    threshold = llr_threshold(threshold, p_target, c_miss, c_fa)
    return threshold, Calibration.load(calibration_path)


def threshold_from_scores(path, operating_point="eer", trials=None):
    """Threshold at an operating point of labelled scores in ``path`` (labels from the file, or
    from ``trials``): ``eer`` or ``mindcf<P_target>`` (e.g. ``mindcf0.01``)."""
    from bccmt_tools.backend.scoring import labels_from_trials

    scored = read_scores(path)
    labels = scored.labels
    if trials is not None:
        labels = labels_from_trials(scored, trials)
    if labels is None:
        raise BccmtError(f"{path}: --calibrate-on needs labelled scores ('enroll test score target|nontarget')")
    if operating_point == "eer":
        return compute_metrics(scored.scores, labels, ())["eer_threshold"]
    match = re.fullmatch(r"mindcf([0-9.]+)", operating_point)
    if not match:
        raise BccmtError(f"--operating-point {operating_point!r}: use eer or mindcf<P_target> (e.g. mindcf0.01)")
    p_target = float(match.group(1))
    metrics = compute_metrics(scored.scores, labels, (p_target,))
    return next(iter(metrics["min_dcf"].values()))["threshold"]


def calibrated_llrs(calibration, scored, table, durations=None, enroll_spk2utt=None, where="trials"):
    """LLRs of ``scored`` (ScoredTrials) under ``calibration`` (backend.calibration.Calibration);
    its quality measures come from ``durations`` (key -> seconds of audio) and the raw
    embeddings of ``table`` (their norms)."""
    from bccmt_tools.backend.calibration import quality_features

    norms = dict(zip(table.keys, np.linalg.norm(table.matrix, axis=1).tolist()))
    quality = quality_features(calibration.measures, scored.enroll, scored.test, durations, norms, where,
                               enroll_spk2utt)
    return calibration.llr(scored.scores, quality, where)


def decision_lines(scored, threshold=None, llrs=None):
    """``enroll test score [llr] [accept|reject]`` lines of ``scored`` (ScoredTrials): the LLR
    column with ``llrs``, decisions (on the LLR when given, else on the score) with ``threshold``."""
    columns = []
    if llrs is not None:
        columns.append([f"{llr:.4f}" for llr in np.asarray(llrs).tolist()])
    if threshold is not None:
        decided = accepts(scored.scores if llrs is None else llrs, threshold)
        columns.append(["accept" if accept else "reject" for accept in decided.tolist()])
    return score_lines(scored.enroll, scored.test, scored.scores, columns)
