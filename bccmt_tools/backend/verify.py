"""Verification decisions: scores (or calibrated LLRs) -> accept/reject.

The decision threshold is given, or taken from a score file's operating point (``eer``,
``mindcf<P_target>``), computed with the same back-end on labelled trials.
"""

import re
from collections import namedtuple

from bccmt_tools.backend.metrics import compute_metrics
from bccmt_tools.backend.scoring import read_scores
from bccmt_tools.errors import BccmtError

Decision = namedtuple("Decision", "enroll test score accept")
OPERATING_POINTS = ("eer", "mindcf0.01", "mindcf0.05")


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


def decide(scored, threshold):
    """Decisions (accept when ``score >= threshold``) in trial order."""
    return [Decision(e, t, float(s), bool(s >= threshold))
            for e, t, s in zip(scored.enroll, scored.test, scored.scores.tolist())]


def format_decisions(decisions):
    return "".join(f"{d.enroll} {d.test} {d.score:.6f} {'accept' if d.accept else 'reject'}\n" for d in decisions)


def calibrated_llrs(calibration, scored, table, durations=None, enroll_spk2utt=None, where="trials"):
    """LLRs of ``scored`` (ScoredTrials) under ``calibration`` (backend.calibration.Calibration);
    its quality measures come from ``durations`` (key -> seconds of audio) and the raw
    embeddings of ``table`` (their norms)."""
    import numpy as np

    from bccmt_tools.backend.calibration import quality_features

    norms = dict(zip(table.keys, np.linalg.norm(table.matrix, axis=1).tolist()))
    quality = quality_features(calibration.measures, scored.enroll, scored.test, durations, norms, where,
                               enroll_spk2utt)
    return calibration.llr(scored.scores, quality, where)


def format_llr_decisions(scored, llrs, threshold=None):
    """``enroll test score llr [accept|reject]`` lines (decisions when ``threshold`` is given:
    accept when ``llr >= threshold``)."""
    lines = []
    for e, t, s, llr in zip(scored.enroll, scored.test, scored.scores.tolist(), llrs.tolist()):
        decision = "" if threshold is None else (" accept" if llr >= threshold else " reject")
        lines.append(f"{e} {t} {s:.6f} {llr:.4f}{decision}\n")
    return "".join(lines)
