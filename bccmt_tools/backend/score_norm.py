"""Adaptive symmetric score normalisation (AS-norm).

For a trial (e, t) with raw cosine score s, each side is compared with a cohort; the mean and
standard deviation of its ``top_n`` highest cohort scores (the cohort most similar to that side;
Matejka et al., Interspeech 2017; Cumani et al., 2011, for the symmetric form) normalise s:

    s_norm = 0.5 * ((s - mu_e) / sigma_e + (s - mu_t) / sigma_t)

Cohort statistics are computed once per embedding, in chunks of rows (memory bounded).
"""

import numpy as np

from bccmt_tools.backend.embeddings import warn
from bccmt_tools.errors import BccmtError

DEFAULT_TOP_N = 300
_ROW_CHUNK = 1024


def cohort_statistics(embeddings, cohort, top_n, keys=None, where="embeddings"):
    """Mean and standard deviation (ddof 0) of the ``top_n`` highest dot products of each row of
    ``embeddings`` with the rows of ``cohort`` (both already length-normalised for cosine)."""
    num_cohort = cohort.shape[0]
    if top_n > num_cohort:
        warn(f"--top-n {top_n} is larger than the cohort ({num_cohort}); using the whole cohort")
        top_n = num_cohort
    if top_n < 2:
        raise BccmtError(f"AS-norm needs --top-n >= 2 and a cohort of at least 2 (top-n {top_n}, "
                         f"cohort {num_cohort})")
    means = np.empty(embeddings.shape[0])
    stds = np.empty(embeddings.shape[0])
    for start in range(0, embeddings.shape[0], _ROW_CHUNK):
        scores = embeddings[start:start + _ROW_CHUNK] @ cohort.T
        if top_n < num_cohort:
            scores = np.partition(scores, num_cohort - top_n, axis=1)[:, num_cohort - top_n:]
        means[start:start + _ROW_CHUNK] = scores.mean(axis=1)
        stds[start:start + _ROW_CHUNK] = scores.std(axis=1)
    flat = stds <= 1e-12
    if flat.any():
        row = int(np.flatnonzero(flat)[0])
        name = f"key {keys[row]!r}" if keys is not None else f"row {row}"
        raise BccmtError(f"{where}: {name}: its top-{top_n} cohort scores are all equal; "
                         "use a larger or more varied cohort")
    return means, stds


def as_norm(scores, enroll_index, test_index, enroll_stats, test_stats):
    """Apply AS-norm to raw ``scores`` given per-row ``(means, stds)`` of both sides."""
    enroll_mean, enroll_std = enroll_stats
    test_mean, test_std = test_stats
    return 0.5 * ((scores - enroll_mean[enroll_index]) / enroll_std[enroll_index]
                  + (scores - test_mean[test_index]) / test_std[test_index])
