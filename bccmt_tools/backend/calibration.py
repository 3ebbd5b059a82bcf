"""Score calibration: a logistic regression from scores (and quality measures) to log-likelihood ratios.

``llr = score_weight * score + offset + sum_k quality_weight_k * q_k`` is fitted on labelled
trials by minimising the prior-weighted logistic cost (at ``prior`` 0.5 this is Cllr), so that
the Bayes threshold ``log((1 - P) / P * C_fa / C_miss)`` gives good decisions for any prior P.

Quality measures (optional, in the spirit of quality-measure functions): for each measure,
two pair features built from per-utterance values, symmetric in enrolment and test:

* ``duration``: ``log`` of the shorter and of the longer duration in seconds (the enrolment of a
  speaker enrolled with several utterances counts the sum of their durations);
* ``norm``: the smaller and the larger embedding L2 norm (raw embeddings, before any
  normalisation; a speaker enrolled with several utterances counts the mean of their norms).

A calibration is a small JSON file (:meth:`Calibration.save`). Only numpy and scipy are needed,
so the torch-free path (``verify --onnx``) can apply it.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> labels = np.repeat([1, 0], 500)
>>> scores = np.where(labels == 1, 0.6, 0.2) + 0.1 * rng.standard_normal(1000)
>>> calibration = train_calibration(scores, labels)  # the true LLR here is 40 * score - 16
>>> round(calibration.score_weight), round(calibration.offset)
(35, -14)
>>> calibration.llr(np.array([0.2, 0.4, 0.6])).round(1)
array([-6.7,  0.3,  7.2])
"""

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from bccmt_tools.backend.metrics import check_scores_labels, compute_cllr, compute_min_cllr
from bccmt_tools.errors import BccmtError

FORMAT = "bccmt-calibration"
VERSION = 1
QUALITY_MEASURES = {
    "duration": ("log_min_duration", "log_max_duration"),
    "norm": ("min_norm", "max_norm"),
}


def pair_features(measure, enroll_values, test_values, where="quality"):
    """``[N, 2]`` pair features of ``measure`` (see the module doc) from per-trial enrolment and
    test values.

    >>> pair_features("duration", [1.0, 4.0], [2.0, 2.0]).round(3).tolist()
    [[0.0, 0.693], [0.693, 1.386]]
    """
    if measure not in QUALITY_MEASURES:
        raise BccmtError(f"{where}: unknown quality measure {measure!r} (valid: {', '.join(QUALITY_MEASURES)})")
    enroll_values = np.asarray(enroll_values, dtype=np.float64)
    test_values = np.asarray(test_values, dtype=np.float64)
    low, high = np.minimum(enroll_values, test_values), np.maximum(enroll_values, test_values)
    if measure == "duration":
        if np.any(low <= 0):
            raise BccmtError(f"{where}: durations must be positive")
        low, high = np.log(low), np.log(high)
    return np.stack([low, high], axis=1)


#: Largest magnitude a fitted weight or offset may have: real fits are below 100; 1e308 overflows.
MAX_WEIGHT = 1e6


@dataclass
class Calibration:
    """An affine map of the score plus weighted quality features; see the module doc.

    ``quality`` maps a measure name to its two feature weights; ``prior`` is the target prior the
    fit was weighted for; ``info`` holds what it was trained on (not used to compute LLRs).
    """

    score_weight: float
    offset: float
    quality: dict = field(default_factory=dict)
    prior: float = 0.5
    info: dict = field(default_factory=dict)

    @property
    def measures(self):
        """Names of the quality measures this calibration needs, in a fixed order."""
        return [name for name in QUALITY_MEASURES if name in self.quality]

    def llr(self, scores, quality=None, where="scores"):
        """LLRs of ``scores``; ``quality`` maps each needed measure to its ``[N, 2]`` pair features
        (:func:`pair_features`)."""
        scores = np.asarray(scores, dtype=np.float64)
        result = self.score_weight * scores + self.offset
        for name in self.measures:
            if quality is None or name not in quality:
                raise BccmtError(f"{where}: the calibration uses the quality measure {name!r}; give its values "
                                 f"({_HOW_TO_GIVE[name]})")
            features = np.asarray(quality[name], dtype=np.float64)
            if features.shape != (scores.size, 2):
                raise BccmtError(f"{where}: quality {name!r}: expected {scores.size} x 2 features, "
                                 f"got {features.shape}")
            result = result + features @ np.asarray(self.quality[name], dtype=np.float64)
        return result

    def to_dict(self):
        return {"format": FORMAT, "version": VERSION, "score_weight": self.score_weight, "offset": self.offset,
                "quality": {name: {"features": list(QUALITY_MEASURES[name]), "weights": list(self.quality[name])}
                            for name in self.measures},
                "prior": self.prior, "info": self.info}

    @classmethod
    def from_dict(cls, data, where="calibration"):
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BccmtError(f"{where}: not a calibration file (key 'format' is not {FORMAT!r}); "
                             "write one with bccmt train-calibration")
        if data.get("version") != VERSION:
            raise BccmtError(f"{where}: key 'version': {data.get('version')!r} is not supported (expected {VERSION})")
        numbers = [data.get("score_weight"), data.get("offset"), data.get("prior", 0.5)]
        numbers += [w for entry in (data.get("quality") or {}).values() if isinstance(entry, dict)
                    for w in (entry.get("weights") or [])]
        if any(isinstance(value, bool) or (value is not None and not isinstance(value, (int, float)))
               for value in numbers):
            raise BccmtError(f"{where}: the calibration's weights, offset and prior must be numbers")
        try:
            quality = {}
            for name, entry in (data.get("quality") or {}).items():
                if name not in QUALITY_MEASURES:
                    raise BccmtError(f"{where}: key 'quality.{name}': unknown quality measure "
                                     f"(valid: {', '.join(QUALITY_MEASURES)})")
                weights = [float(w) for w in entry["weights"]]
                if len(weights) != 2:
                    raise BccmtError(f"{where}: key 'quality.{name}.weights': expected 2 weights")
                quality[name] = weights
            calibration = cls(float(data["score_weight"]), float(data["offset"]), quality,
                              float(data.get("prior", 0.5)), dict(data.get("info") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise BccmtError(f"{where}: malformed calibration ({type(exc).__name__}: {exc})") from None
        values = [calibration.score_weight, calibration.offset] + [w for ws in quality.values() for w in ws]
        if not all(math.isfinite(v) and abs(v) <= MAX_WEIGHT for v in values):
            raise BccmtError(f"{where}: the calibration holds non-finite or absurd weights (beyond +-{MAX_WEIGHT:g})")
        if calibration.score_weight <= 0:
            raise BccmtError(f"{where}: key 'score_weight': {calibration.score_weight:g} <= 0 would turn higher scores "
                             "into lower LLRs and invert every decision; refit it with bccmt train-calibration")
        if not 0 < calibration.prior < 1:
            raise BccmtError(f"{where}: key 'prior': {calibration.prior:g} is not a probability in (0, 1)")
        return calibration

    def save(self, path):
        """Write the calibration as JSON (atomically)."""
        from bccmt_tools.io.atomic import atomic_write

        with atomic_write(path) as handle:
            json.dump(self.to_dict(), handle, indent=2)
            handle.write("\n")

    @classmethod
    def load(cls, path):
        """Read a calibration written by :meth:`save`; errors name the file."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise BccmtError(f"{path}: calibration file not found") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise BccmtError(f"{path}: cannot read the calibration: {exc}") from None
        return cls.from_dict(data, str(path))


_HOW_TO_GIVE = {"duration": "--durations utt2dur, or audio that verify reads itself",
                "norm": "--embeddings RSPEC of the raw embeddings, or the embeddings verify computes itself"}


def _objective(params, design, labels, weights, prior_log_odds):
    """Prior-weighted logistic cost (nats) and its gradient; ``design`` has a constant column."""
    llr = design @ params + prior_log_odds
    signed = np.where(labels, -llr, llr)            # cost of a trial: softplus(signed)
    cost = float(np.sum(weights * np.logaddexp(0.0, signed)))
    slope = weights * np.where(labels, -1.0, 1.0) / (1.0 + np.exp(-signed))  # d softplus(signed) / d llr
    return cost, design.T @ slope


def train_calibration(scores, labels, prior=0.5, quality=None, where="scores", regularization=1e-6):
    """Fit a :class:`Calibration` on labelled ``scores``.

    Minimises ``P * mean_tar softplus(-(llr + logit P)) + (1 - P) * mean_non softplus(llr + logit P)``
    (``P`` = ``prior``; at 0.5 that is Cllr up to a constant factor) with a tiny L2 penalty on the
    non-offset weights (``regularization``) so that separable data still give finite weights.
    ``quality`` maps measure names to ``[N, 2]`` pair features; a feature constant over the trials
    gets weight 0.
    """
    from scipy.optimize import minimize

    scores, labels = check_scores_labels(scores, labels, where)
    if not 0.0 < prior < 1.0:
        raise BccmtError(f"--prior must be in (0, 1), got {prior}")
    quality = dict(quality or {})
    names = [name for name in QUALITY_MEASURES if name in quality]
    unknown = sorted(set(quality) - set(names))
    if unknown:
        raise BccmtError(f"{where}: unknown quality measure {unknown[0]!r} (valid: {', '.join(QUALITY_MEASURES)})")
    columns = [scores[:, None]] + [np.asarray(quality[name], dtype=np.float64) for name in names]
    for name, block in zip(names, columns[1:]):
        if block.shape != (scores.size, 2) or not np.all(np.isfinite(block)):
            raise BccmtError(f"{where}: quality {name!r}: expected {scores.size} x 2 finite features, "
                             f"got {block.shape}")
    raw = np.concatenate(columns, axis=1)
    # standardise every column for a well-conditioned fit; constant columns are left out
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    if std[0] == 0:
        raise BccmtError(f"{where}: every score is the same ({scores[0]}); nothing to calibrate")
    used = std > 0
    design = np.concatenate([(raw[:, used] - mean[used]) / std[used], np.ones((scores.size, 1))], axis=1)
    num_target, num_nontarget = int(labels.sum()), int((~labels).sum())
    weights = np.where(labels, prior / num_target, (1.0 - prior) / num_nontarget)
    prior_log_odds = math.log(prior / (1.0 - prior))

    def penalised(params):
        cost, grad = _objective(params, design, labels, weights, prior_log_odds)
        penalty = np.append(params[:-1], 0.0)
        return cost + 0.5 * regularization * float(penalty @ penalty), grad + regularization * penalty

    start = np.zeros(design.shape[1])
    start[0] = 1.0
    fit = minimize(penalised, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-9})
    if not np.all(np.isfinite(fit.x)):
        raise BccmtError(f"{where}: the calibration fit did not converge ({fit.message})")
    # back to raw units: llr = sum_j w_j (x_j - mean_j) / std_j + b
    full = np.zeros(raw.shape[1])
    full[used] = fit.x[:-1] / std[used]
    offset = float(fit.x[-1] - full[used] @ mean[used])
    quality_weights = {name: [float(w) for w in full[1 + 2 * i:3 + 2 * i]] for i, name in enumerate(names)}
    calibration = Calibration(float(full[0]), offset, quality_weights, float(prior))
    llrs = calibration.llr(scores, quality, where)
    calibration.info = {"num_target": num_target, "num_nontarget": num_nontarget,
                        "cllr_before": compute_cllr(scores, labels), "cllr": compute_cllr(llrs, labels),
                        "min_cllr": compute_min_cllr(scores, labels),
                        "constant_features": [f"{name}.{feature}" for i, name in enumerate(names)
                                              for j, feature in enumerate(QUALITY_MEASURES[name])
                                              if not used[1 + 2 * i + j]]}
    return calibration


def read_value_table(paths, what="values"):
    """``key -> float`` from ``key value`` text files (e.g. ``utt2dur``); later files win."""
    table = {}
    for path in paths:
        if not os.path.isfile(path):
            raise BccmtError(f"{path}: file not found ({what})")
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 2:
                    raise BccmtError(f"{path}:{number}: expected 'key value', got {line.strip()!r}")
                try:
                    table[fields[0]] = float(fields[1])
                except ValueError:
                    raise BccmtError(f"{path}:{number}: {fields[1]!r} is not a number") from None
    return table


def trial_values(table, enroll_ids, test_ids, measure, where, enroll_spk2utt=None):
    """Per-trial enrolment and test values of ``measure`` from ``key -> value``; an enrolment id
    of ``enroll_spk2utt`` combines its utterances (durations add up, norms are averaged)."""

    def value(key, side):
        if key in table:
            return table[key]
        if side == "enrolment" and enroll_spk2utt is not None and key in enroll_spk2utt:
            members = enroll_spk2utt[key]
            missing = [utt for utt in members if utt not in table]
            if missing:
                raise BccmtError(f"{where}: {measure} of utterance {missing[0]!r} (of enrolment {key!r}) is unknown")
            values = [table[utt] for utt in members]
            return float(np.sum(values)) if measure == "duration" else float(np.mean(values))
        raise BccmtError(f"{where}: {side} key {key!r} has no {measure} value")

    enroll_values = {key: value(key, "enrolment") for key in set(enroll_ids)}
    test_values = {key: value(key, "test") for key in set(test_ids)}
    return [enroll_values[key] for key in enroll_ids], [test_values[key] for key in test_ids]


def quality_features(measures, enroll_ids, test_ids, durations=None, norms=None, where="quality",
                     enroll_spk2utt=None):
    """``{measure: [N, 2] pair features}`` for the trials ``zip(enroll_ids, test_ids)`` from
    ``key -> seconds`` (``durations``) and ``key -> embedding norm`` (``norms``)."""
    tables = {"duration": durations, "norm": norms}
    features = {}
    for measure in measures:
        table = tables[measure]
        if table is None:
            raise BccmtError(f"{where}: the calibration uses the quality measure {measure!r}; give its values "
                             f"({_HOW_TO_GIVE[measure]})")
        enroll_values, test_values = trial_values(table, enroll_ids, test_ids, measure, where, enroll_spk2utt)
        features[measure] = pair_features(measure, enroll_values, test_values, where)
    return features


def embedding_norms(rspecifiers):
    """``key -> L2 norm`` of the embeddings of each rspecifier (later ones win)."""
    from bccmt_tools.backend.embeddings import load_embeddings

    norms = {}
    for rspecifier in rspecifiers:
        table = load_embeddings(rspecifier)
        norms.update(zip(table.keys, np.linalg.norm(table.matrix.astype(np.float64), axis=1).tolist()))
    return norms
