"""Confidence intervals for EER and for the relative EER change between two systems.

Two sources of uncertainty are resampled together (a two-level bootstrap):

* **speakers**: the trial list is a sample of speakers, and trials of one speaker are not
  independent; each replicate draws the list's speakers with replacement and takes all trials
  whose enrolment speaker was drawn (as often as it was drawn);
* **seeds**: a training recipe gives a different model for every seed; each replicate draws the
  seeds of each system with replacement and averages their EERs.

A system is a list of score arrays, one per seed, all over the same trials in the same order.
The relative change is ``EER(new) / EER(old) - 1`` of the seed-mean EERs.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> labels = np.tile([1, 0], 200)
>>> speakers = np.repeat(np.arange(40), 10)
>>> old = [labels + rng.normal(0, 0.6, 400) for _ in range(3)]
>>> new = [labels + rng.normal(0, 0.4, 400) for _ in range(3)]
>>> result = relative_eer_change(new, old, labels, speakers, num_bootstrap=200, seed=1)
>>> result.change < 0 and result.high < 0   # clearly better: the whole interval is below zero
True
"""

from collections import namedtuple

import numpy as np

from bccmt_tools.backend.metrics import compute_eer
from bccmt_tools.errors import BccmtError

Interval = namedtuple("Interval", "value low high confidence replicates")
Interval.__doc__ = "A point estimate with its bootstrap percentile interval."

Change = namedtuple("Change", "change low high confidence replicates eer_new eer_old")
Change.__doc__ = ("Relative EER change (fraction: -0.1 = 10% lower) with its interval, and the seed-mean EERs "
                  "of both systems on the full list.")


def _check(systems, labels, speakers):
    labels = np.asarray(labels)
    speakers = np.asarray(speakers)
    if labels.ndim != 1 or speakers.shape != labels.shape:
        raise BccmtError(f"labels ({labels.shape}) and speakers ({speakers.shape}) must be one value per trial")
    if not (np.any(labels == 1) and np.any(labels == 0)):
        raise BccmtError("the trial list needs both target and non-target trials")
    for name, runs in systems.items():
        if len(runs) == 0:
            raise BccmtError(f"{name}: no score arrays (one per seed)")
        for scores in runs:
            if np.shape(scores) != labels.shape:
                raise BccmtError(f"{name}: a score array has {np.shape(scores)} values for {labels.size} trials "
                                 f"(every seed must score the same trials in the same order)")
    return labels, speakers


def _speaker_groups(speakers):
    """Trial indices of each speaker, as a list of arrays."""
    _, inverse = np.unique(speakers, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse))
    return np.split(order, bounds[:-1])


def _eer(scores, labels):
    if not (np.any(labels == 1) and np.any(labels == 0)):
        return np.nan  # a replicate that drew no target (or no non-target) trial
    return compute_eer(scores, labels).eer


def _replicates(systems, labels, speakers, num_bootstrap, seed):
    """Yield ``{name: seed-mean EER}`` for each bootstrap replicate."""
    rng = np.random.default_rng(seed)
    groups = _speaker_groups(speakers)
    for _ in range(num_bootstrap):
        drawn = rng.integers(0, len(groups), len(groups))
        index = np.concatenate([groups[g] for g in drawn])
        sub_labels = labels[index]
        result = {}
        for name, runs in systems.items():
            picks = rng.integers(0, len(runs), len(runs))
            per_seed = {k: _eer(np.asarray(runs[k])[index], sub_labels) for k in set(picks.tolist())}
            result[name] = float(np.mean([per_seed[k] for k in picks]))
        yield result


def _percentiles(values, confidence):
    values = np.asarray([v for v in values if np.isfinite(v)])
    if values.size == 0:
        raise BccmtError("no bootstrap replicate was usable (too few speakers or trials)")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high), int(values.size)


def eer_interval(runs, labels, speakers, num_bootstrap=1000, confidence=0.95, seed=0):
    """Seed-mean EER of one system with its two-level bootstrap interval (fractions, not %).

    >>> import numpy as np
    >>> labels = np.tile([1, 0], 100); speakers = np.repeat(np.arange(20), 10)
    >>> scores = labels + np.random.default_rng(0).normal(0, 0.5, 200)
    >>> ci = eer_interval([scores], labels, speakers, num_bootstrap=100)
    >>> ci.low <= ci.value <= ci.high
    True
    """
    labels, speakers = _check({"system": runs}, labels, speakers)
    value = float(np.mean([_eer(np.asarray(s), labels) for s in runs]))
    draws = [r["system"] for r in _replicates({"system": runs}, labels, speakers, num_bootstrap, seed)]
    low, high, used = _percentiles(draws, confidence)
    return Interval(value, low, high, confidence, used)


def relative_eer_change(new_runs, old_runs, labels, speakers, num_bootstrap=1000, confidence=0.95, seed=0):
    """Relative change of the seed-mean EER of ``new_runs`` against ``old_runs`` with its interval.

    Both systems are scored on the same resampled trials in each replicate (a paired bootstrap),
    so what the two lists share does not widen the interval.
    """
    systems = {"new": new_runs, "old": old_runs}
    labels, speakers = _check(systems, labels, speakers)
    eer_new = float(np.mean([_eer(np.asarray(s), labels) for s in new_runs]))
    eer_old = float(np.mean([_eer(np.asarray(s), labels) for s in old_runs]))
    if eer_old == 0:
        raise BccmtError("the reference system has 0% EER: a relative change is undefined")
    draws = [r["new"] / r["old"] - 1.0 if r["old"] > 0 else np.nan
             for r in _replicates(systems, labels, speakers, num_bootstrap, seed)]
    low, high, used = _percentiles(draws, confidence)
    return Change(eer_new / eer_old - 1.0, low, high, confidence, used, eer_new, eer_old)


def verdict(change, expected=None):
    """A plain sentence on what the interval says about a claimed direction (``expected`` < 0:
    the new system should be better).

    >>> verdict(Change(-0.2, -0.3, -0.1, 0.95, 1000, 0.08, 0.1), expected=-0.093)
    'reproduced: lower EER, the whole 95% interval is below 0'
    >>> verdict(Change(0.05, -0.1, 0.2, 0.95, 1000, 0.105, 0.1), expected=-0.093)
    'unresolved: the 95% interval [-10.0%, +20.0%] contains 0'
    """
    level = f"{round(change.confidence * 100)}%"
    if change.low <= 0 <= change.high:
        return f"unresolved: the {level} interval [{change.low:+.1%}, {change.high:+.1%}] contains 0"
    lower = change.high < 0
    if expected is None:
        return f"{'lower' if lower else 'higher'} EER: the whole {level} interval is {'below' if lower else 'above'} 0"
    if lower == (expected < 0):
        return f"reproduced: {'lower' if lower else 'higher'} EER, the whole {level} interval is " \
               f"{'below' if lower else 'above'} 0"
    return f"contradicted: {'lower' if lower else 'higher'} EER, the whole {level} interval is " \
           f"{'below' if lower else 'above'} 0"
