"""Cosine scoring with optional mean subtraction.

>>> import numpy as np
>>> enroll = np.array([[1.0, 0.0], [1.0, 1.0]]); test = np.array([[2.0, 0.0]])
>>> cosine_scores(enroll, test, np.array([0, 1]), np.array([0, 0])).round(4)
array([1.    , 0.7071])
"""

import numpy as np

from bccmt_tools.backend.linalg import DEFAULT_CHUNK_SIZE, length_normalize, paired_dot


def prepare_cosine(matrix, keys=None, mean_vector=None, where="embeddings"):
    """Subtract ``mean_vector`` (when given) and length-normalise every row."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if mean_vector is not None:
        matrix = matrix - mean_vector
    return length_normalize(matrix, keys, where)


def cosine_scores(enroll, test, enroll_index, test_index, chunk_size=DEFAULT_CHUNK_SIZE,
                  enroll_keys=None, test_keys=None):
    """Cosine similarity of each pair ``(enroll[enroll_index[i]], test[test_index[i]])``; rows are
    normalised once, pairs are scored in chunks."""
    enroll = length_normalize(enroll, enroll_keys, "enrolment embeddings")
    test = length_normalize(test, test_keys, "test embeddings")
    return paired_dot(enroll, test, enroll_index, test_index, chunk_size)
