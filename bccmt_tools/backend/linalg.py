"""Small vectorised helpers shared by the scorers: length normalisation and paired dot products."""

import numpy as np

from bccmt_tools.errors import BccmtError

DEFAULT_CHUNK_SIZE = 4096  # pairs per chunk: gathered rows stay in cache


def length_normalize(matrix, keys=None, where="embeddings", scale=1.0):
    """Rows scaled to norm ``scale``; a zero-norm row is an error naming its key.

    >>> length_normalize(np.array([[3.0, 4.0]]))
    array([[0.6, 0.8]])
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1)
    zero = norms <= 1e-12 * max(1.0, float(norms.max(initial=0.0)))
    if zero.any():
        row = int(np.flatnonzero(zero)[0])
        name = f"key {keys[row]!r}" if keys is not None else f"row {row}"
        raise BccmtError(f"{where}: {name}: embedding has zero norm (after mean subtraction, if any); "
                         "cannot length-normalise it")
    return matrix * (scale / norms)[:, None]


def paired_dot(left, right, left_index, right_index, chunk_size=DEFAULT_CHUNK_SIZE):
    """``out[i] = left[left_index[i]] . right[right_index[i]]``, gathered in chunks of
    ``chunk_size`` pairs into reused buffers, so memory stays bounded (2 * chunk_size * dim floats)
    and the gathered rows stay in cache.

    >>> a = np.eye(2); paired_dot(a, a, np.array([0, 0]), np.array([0, 1]))
    array([1., 0.])
    """
    left = np.ascontiguousarray(left, dtype=np.float64)
    right = np.ascontiguousarray(right, dtype=np.float64)
    left_index = np.asarray(left_index, dtype=np.int64)
    right_index = np.asarray(right_index, dtype=np.int64)
    out = np.empty(left_index.size, dtype=np.float64)
    size = min(chunk_size, max(left_index.size, 1))
    left_rows = np.empty((size, left.shape[1]))
    right_rows = np.empty((size, right.shape[1]))
    for start in range(0, left_index.size, chunk_size):
        stop = min(start + chunk_size, left_index.size)
        n = stop - start
        np.take(left, left_index[start:stop], axis=0, out=left_rows[:n])
        np.take(right, right_index[start:stop], axis=0, out=right_rows[:n])
        out[start:stop] = np.einsum("ij,ij->i", left_rows[:n], right_rows[:n])
    return out


def group_mean(matrix, groups, num_groups):
    """Mean of the rows of ``matrix`` per group id (``groups[i]`` in ``0..num_groups-1``) and the
    number of rows per group."""
    counts = np.bincount(groups, minlength=num_groups).astype(np.float64)
    sums = np.zeros((num_groups, matrix.shape[1]), dtype=np.float64)
    np.add.at(sums, groups, matrix)
    return sums / np.maximum(counts, 1.0)[:, None], counts
