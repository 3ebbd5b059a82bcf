"""Verification metrics: EER, normalised minDCF, operating points and score statistics; and, for
scores read as log-likelihood ratios, Cllr, min Cllr (PAV) and the actual DCF at the Bayes threshold.

A trial is accepted when ``score >= threshold``. Operating points are taken at every distinct
score (ties move together) plus one threshold above the highest score (accept nothing), so the
results do not depend on trial order. minDCF and min Cllr say how good the scores could be;
actual DCF and Cllr say how good they are as LLRs: a large gap means "calibrate them".

>>> import numpy as np
>>> scores = np.array([0.9, 0.8, 0.3, 0.1])
>>> labels = np.array([1, 0, 1, 0])
>>> round(compute_eer(scores, labels).eer, 3)
0.5
"""

from collections import namedtuple

import numpy as np

from bccmt_tools.errors import BccmtError

DEFAULT_P_TARGETS = (0.01, 0.05)

OperatingPoints = namedtuple("OperatingPoints", "thresholds p_miss p_fa")
EerResult = namedtuple("EerResult", "eer threshold")
MinDcfResult = namedtuple("MinDcfResult", "min_dcf threshold p_target c_miss c_fa p_miss p_fa")
ActDcfResult = namedtuple("ActDcfResult", "act_dcf threshold p_target c_miss c_fa p_miss p_fa")


def check_scores_labels(scores, labels, where="scores"):
    """Validate and return ``(scores float64, labels bool)``; both classes must be present."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if scores.shape != labels.shape:
        raise BccmtError(f"{where}: {scores.size} scores but {labels.size} labels")
    if scores.size == 0:
        raise BccmtError(f"{where}: no trials")
    if not np.all(np.isfinite(scores)):
        bad = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise BccmtError(f"{where}: trial {bad + 1} has a non-finite score ({scores[bad]})")
    if labels.dtype != bool:
        if not np.all((labels == 0) | (labels == 1)):
            raise BccmtError(f"{where}: labels must be 1 (target) or 0 (nontarget)")
        labels = labels.astype(bool)
    if labels.all() or not labels.any():
        kind = "nontarget" if labels.all() else "target"
        raise BccmtError(f"{where}: no {kind} trials; EER and minDCF need both targets and nontargets")
    return scores, labels


def operating_points(scores, labels):
    """Miss and false-alarm rates at every distinct score, then above the maximum.

    Returns ``OperatingPoints(thresholds, p_miss, p_fa)``, ``p_miss`` rising from 0 to 1 and
    ``p_fa`` falling from 1 to 0. The last threshold is the next float above the highest score.
    """
    scores, labels = check_scores_labels(scores, labels)
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    sorted_labels = labels[order]
    thresholds, first_index = np.unique(sorted_scores, return_index=True)
    targets_below = np.concatenate([[0], np.cumsum(sorted_labels)])[first_index]
    nontargets_below = first_index - targets_below
    n_target = sorted_labels.sum()
    n_nontarget = sorted_labels.size - n_target
    p_miss = np.append(targets_below / n_target, 1.0)
    p_fa = np.append(1.0 - nontargets_below / n_nontarget, 0.0)
    thresholds = np.append(thresholds, np.nextafter(thresholds[-1], np.inf))
    return OperatingPoints(thresholds, p_miss, p_fa)


def compute_eer(scores, labels, points=None):
    """EER where the miss and false-alarm curves cross, linearly interpolated between the two
    operating points around the crossing; the threshold is interpolated the same way."""
    points = points or operating_points(scores, labels)
    difference = points.p_miss - points.p_fa  # rises from -1 to +1
    k = int(np.argmax(difference >= 0))  # first point at or past the crossing, k >= 1
    if difference[k] == 0:
        return EerResult(float(points.p_miss[k]), float(points.thresholds[k]))
    before, after = difference[k - 1], difference[k]
    alpha = -before / (after - before)
    eer = points.p_miss[k - 1] + alpha * (points.p_miss[k] - points.p_miss[k - 1])
    threshold = points.thresholds[k - 1] + alpha * (points.thresholds[k] - points.thresholds[k - 1])
    return EerResult(float(eer), float(threshold))


def compute_min_dcf(scores, labels, p_target, c_miss=1.0, c_fa=1.0, points=None):
    """Minimum of the detection cost ``c_miss * p_target * P_miss + c_fa * (1 - p_target) * P_fa``
    over all thresholds, normalised by the cost of the best trivial system
    ``min(c_miss * p_target, c_fa * (1 - p_target))``."""
    if not 0.0 < p_target < 1.0:
        raise BccmtError(f"p_target must be in (0, 1), got {p_target}")
    points = points or operating_points(scores, labels)
    cost = c_miss * p_target * points.p_miss + c_fa * (1.0 - p_target) * points.p_fa
    cost /= min(c_miss * p_target, c_fa * (1.0 - p_target))
    k = int(np.argmin(cost))
    return MinDcfResult(float(cost[k]), float(points.thresholds[k]), p_target, c_miss, c_fa,
                        float(points.p_miss[k]), float(points.p_fa[k]))


def bayes_threshold(p_target, c_miss=1.0, c_fa=1.0):
    """The LLR threshold that minimises the expected cost: ``log(c_fa * (1 - p) / (c_miss * p))``.

    >>> round(bayes_threshold(0.01), 4), bayes_threshold(0.5)
    (4.5951, 0.0)
    """
    if not 0.0 < p_target < 1.0:
        raise BccmtError(f"p_target must be in (0, 1), got {p_target}")
    if c_miss <= 0 or c_fa <= 0:
        raise BccmtError(f"costs must be positive, got c_miss {c_miss}, c_fa {c_fa}")
    return float(np.log(c_fa * (1.0 - p_target) / (c_miss * p_target)))


def compute_act_dcf(llrs, labels, p_target, c_miss=1.0, c_fa=1.0):
    """Normalised DCF of the decisions ``llr >= bayes_threshold(p_target, c_miss, c_fa)``: the cost
    a user pays who reads the scores as LLRs (equal to minDCF for perfectly calibrated scores).

    >>> compute_act_dcf([5.0, -1.0, 0.5, -6.0], [1, 1, 0, 0], 0.01).act_dcf
    0.5
    """
    llrs, labels = check_scores_labels(llrs, labels)
    threshold = bayes_threshold(p_target, c_miss, c_fa)
    accept = llrs >= threshold
    p_miss = float((~accept[labels]).mean())
    p_fa = float(accept[~labels].mean())
    cost = (c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa) / min(c_miss * p_target,
                                                                               c_fa * (1.0 - p_target))
    return ActDcfResult(float(cost), threshold, p_target, c_miss, c_fa, p_miss, p_fa)


def compute_cllr(llrs, labels):
    """Log-likelihood-ratio cost in bits: ``(mean_tar log2(1 + e^-llr) + mean_non log2(1 + e^llr)) / 2``.

    0 for perfect LLRs, 1 for LLRs that are always 0 (no information), above 1 when they mislead.

    >>> compute_cllr([0.0, 0.0], [1, 0])
    1.0
    """
    llrs, labels = check_scores_labels(llrs, labels)
    return _cllr(llrs, labels)


def _cllr(llrs, labels):
    """Cllr of checked arrays; infinite LLRs allowed (PAV gives them where one class is absent)."""
    # sorted per class: the sums do not depend on trial order
    target_cost = np.logaddexp(0.0, -np.sort(llrs[labels])).mean()
    nontarget_cost = np.logaddexp(0.0, np.sort(llrs[~labels])).mean()
    return float((target_cost + nontarget_cost) / (2.0 * np.log(2.0)))


def pav_llrs(scores, labels):
    """The best LLRs a monotone (non-decreasing) map of ``scores`` can give on these trials, by
    pool-adjacent-violators; tied scores share one value; may be -inf / +inf at the ends.

    >>> pav_llrs([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1]).tolist()
    [-inf, 0.0, 0.0, inf]
    """
    scores, labels = check_scores_labels(scores, labels)
    values, inverse = np.unique(scores, return_inverse=True)
    targets = np.bincount(inverse, weights=labels.astype(np.float64), minlength=values.size)
    counts = np.bincount(inverse, minlength=values.size).astype(np.float64)
    # blocks of pooled distinct scores: sum of targets, number of trials, number of distinct scores;
    # adjacent blocks are pooled while the left one's target rate is not below the right one's
    block_targets, block_counts, block_sizes = [], [], []
    for t, n in zip(targets.tolist(), counts.tolist()):
        size = 1
        while block_counts and block_targets[-1] * n >= t * block_counts[-1]:
            t += block_targets.pop()
            n += block_counts.pop()
            size += block_sizes.pop()
        block_targets.append(t)
        block_counts.append(n)
        block_sizes.append(size)
    posterior = np.repeat(np.array(block_targets) / np.array(block_counts), block_sizes)[inverse]
    prior_log_odds = np.log(labels.sum() / (~labels).sum())
    with np.errstate(divide="ignore"):
        log_odds = np.log(posterior) - np.log1p(-posterior)
    return log_odds - prior_log_odds


def compute_min_cllr(scores, labels):
    """Cllr of :func:`pav_llrs`: the Cllr of the best monotone calibration of these scores (what
    calibration could reach; the gap to :func:`compute_cllr` is the calibration loss).

    >>> compute_min_cllr([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    0.5
    """
    scores, labels = check_scores_labels(scores, labels)
    return _cllr(pav_llrs(scores, labels), labels)


def _stats(values):
    return {"count": int(values.size), "mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max())}


def compute_metrics(scores, labels, p_targets=DEFAULT_P_TARGETS, c_miss=1.0, c_fa=1.0):
    """All metrics as a JSON-ready dict: EER (as a fraction and in %), minDCF per P_target with its
    threshold, target / nontarget counts and score statistics; with the scores read as LLRs, the
    actual DCF per P_target (``act_dcf``, at the Bayes threshold), ``cllr`` and ``min_cllr``."""
    scores, labels = check_scores_labels(scores, labels)
    points = operating_points(scores, labels)
    eer = compute_eer(scores, labels, points)
    result = {
        "num_trials": int(scores.size),
        "num_target": int(labels.sum()),
        "num_nontarget": int((~labels).sum()),
        "eer": eer.eer,
        "eer_percent": 100.0 * eer.eer,
        "eer_threshold": eer.threshold,
        "min_dcf": {},
        "target_scores": _stats(scores[labels]),
        "nontarget_scores": _stats(scores[~labels]),
    }
    for p_target in p_targets:
        dcf = compute_min_dcf(scores, labels, p_target, c_miss, c_fa, points)
        result["min_dcf"][f"{p_target:g}"] = {
            "p_target": p_target, "c_miss": c_miss, "c_fa": c_fa, "min_dcf": dcf.min_dcf,
            "threshold": dcf.threshold, "p_miss": dcf.p_miss, "p_fa": dcf.p_fa,
        }
    result["cllr"] = compute_cllr(scores, labels)
    result["min_cllr"] = compute_min_cllr(scores, labels)
    result["act_dcf"] = {}
    for p_target in p_targets:
        act = compute_act_dcf(scores, labels, p_target, c_miss, c_fa)
        result["act_dcf"][f"{p_target:g}"] = {
            "p_target": p_target, "c_miss": c_miss, "c_fa": c_fa, "act_dcf": act.act_dcf,
            "threshold": act.threshold, "p_miss": act.p_miss, "p_fa": act.p_fa,
        }
    return result


def parse_p_targets(text):
    """``"0.01,0.05"`` -> ``(0.01, 0.05)``; errors name the bad value."""
    values = []
    for item in str(text).split(","):
        item = item.strip()
        try:
            value = float(item)
        except ValueError:
            raise BccmtError(f"--p-target: {item!r} is not a number") from None
        if not 0.0 < value < 1.0:
            raise BccmtError(f"--p-target: {value} is not in (0, 1)")
        values.append(value)
    return tuple(values)
