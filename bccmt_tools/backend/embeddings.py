"""Embedding tables: load and validate Kaldi vectors, speaker means, a global mean vector.

>>> table = EmbeddingTable(["a", "b"], np.array([[1.0, 0.0], [0.0, 2.0]]), where="demo")
>>> table.row("b")
array([0., 2.])
"""

import os
import sys

import kaldiio
import numpy as np

from bccmt_tools.backend.linalg import length_normalize
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import temp_name_for
from bccmt_tools.io.kaldi_table import read_table


class EmbeddingTable:
    """Keys and a ``[N, D]`` float64 matrix of embeddings, with ``key -> row`` lookup.

    ``counts`` (optional) holds how many utterances each row averages (speaker means).
    """

    def __init__(self, keys, matrix, where="embeddings", counts=None):
        self.keys = list(keys)
        self.matrix = np.asarray(matrix, dtype=np.float64).reshape(len(self.keys), -1)
        self.where = where
        self.counts = None if counts is None else np.asarray(counts, dtype=np.float64)
        self.index = {}
        for row, key in enumerate(self.keys):
            if key in self.index:
                raise BccmtError(f"{where}: duplicated key {key!r}")
            self.index[key] = row

    def __len__(self):
        return len(self.keys)

    def __contains__(self, key):
        return key in self.index

    @property
    def dim(self):
        return self.matrix.shape[1]

    def row(self, key):
        try:
            return self.matrix[self.index[key]]
        except KeyError:
            raise BccmtError(f"{self.where}: no embedding for key {key!r}") from None

    def subset(self, keys):
        rows = [self.index[key] for key in keys]
        counts = None if self.counts is None else self.counts[rows]
        return EmbeddingTable(keys, self.matrix[rows], self.where, counts)


def load_embeddings(rspecifier):
    """Read Kaldi vectors into an EmbeddingTable; errors name the key for a wrong shape, a
    dimension different from the first entry's, NaN/inf values or a duplicated key."""
    keys, rows = [], []
    first_key, dim = None, None
    for key, value in read_table(rspecifier):
        value = np.asarray(value)
        if value.ndim == 2 and 1 in value.shape:
            value = value.ravel()
        if value.ndim != 1:
            raise BccmtError(f"{rspecifier}: key {key!r}: expected a vector, got shape {value.shape}")
        if dim is None:
            first_key, dim = key, value.size
        elif value.size != dim:
            raise BccmtError(f"{rspecifier}: key {key!r}: dimension {value.size}, but key {first_key!r} "
                             f"has dimension {dim}")
        if not np.all(np.isfinite(value)):
            raise BccmtError(f"{rspecifier}: key {key!r}: embedding contains NaN or infinite values")
        keys.append(key)
        rows.append(value.astype(np.float64))
    if not rows:
        raise BccmtError(f"{rspecifier}: no embeddings")
    return EmbeddingTable(keys, np.stack(rows), where=rspecifier)


def check_same_dim(*tables):
    """All tables must share one embedding dimension; the error names both sources."""
    first = tables[0]
    for other in tables[1:]:
        if other.dim != first.dim:
            raise BccmtError(f"dimension mismatch: {first.where} has {first.dim}-dim embeddings, "
                             f"{other.where} has {other.dim}-dim ones")


def warn(message):
    print(f"WARNING: {message}", file=sys.stderr)


def speaker_means(table, spk2utt, normalize_first=False, skip_missing=False, where="spk2utt"):
    """Average the embeddings of each speaker's utterances; returns an EmbeddingTable of speakers
    whose ``counts`` are the numbers of utterances averaged.

    ``normalize_first`` length-normalises each utterance before averaging (every utterance weighs
    the same); off by default so that the means stay in the raw embedding space, where a global
    mean vector can be subtracted from them as from any embedding. A missing
    utterance is an error naming the speaker, or with ``skip_missing`` is left out (a speaker
    with none left is dropped) and counted in a warning.
    """
    matrix = length_normalize(table.matrix, table.keys, table.where) if normalize_first else table.matrix
    keys, means, counts = [], [], []
    missing = 0
    for speaker, utts in spk2utt.items():
        rows = []
        for utt in utts:
            row = table.index.get(utt)
            if row is None:
                if not skip_missing:
                    raise BccmtError(f"{where}: speaker {speaker!r}: utterance {utt!r} has no embedding "
                                     f"in {table.where}")
                missing += 1
                continue
            rows.append(row)
        if not rows:
            continue
        keys.append(speaker)
        means.append(matrix[rows].mean(axis=0))
        counts.append(len(rows))
    if missing:
        warn(f"{where}: {missing} utterance(s) without an embedding were left out")
    if not keys:
        raise BccmtError(f"{where}: no speaker has any utterance with an embedding in {table.where}")
    return EmbeddingTable(keys, np.stack(means), where=f"{where} means of {table.where}", counts=counts)


def write_vector(path, vector):
    """Write one Kaldi binary vector (no key, like Kaldi's ivector-mean global mean), atomically."""
    tmp = temp_name_for(path)
    try:
        kaldiio.save_mat(tmp, np.asarray(vector, dtype=np.float32))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_vector(path, dim=None):
    """Read a vector written by write_vector (or Kaldi), a text vector ``[ 1 2 3 ]`` or ``.npy``."""
    try:
        if str(path).endswith(".npy"):
            vector = np.load(path, allow_pickle=False)  # a pickled object array could run code
        else:
            vector = kaldiio.load_mat(str(path))
    except FileNotFoundError:
        raise BccmtError(f"{path}: file not found") from None
    except Exception as exc:
        raise BccmtError(f"{path}: cannot read a vector: {exc}") from None
    vector = np.asarray(vector, dtype=np.float64).ravel()
    if not np.all(np.isfinite(vector)):
        raise BccmtError(f"{path}: vector contains NaN or infinite values")
    if dim is not None and vector.size != dim:
        raise BccmtError(f"{path}: vector has dimension {vector.size}, embeddings have {dim}")
    return vector


def labelled_matrix(table, utt2spk, where="utt2spk"):
    """Rows of ``table`` with their speaker labels from ``utt2spk`` (for LDA / PLDA training).

    An embedding without a speaker is an error naming its key; utterances of ``utt2spk``
    without an embedding are left out with a warning (e.g. extraction skipped them).
    """
    labels = []
    for key in table.keys:
        speaker = utt2spk.get(key)
        if speaker is None:
            raise BccmtError(f"{where}: key {key!r} of {table.where} has no speaker")
        labels.append(speaker)
    missing = len(utt2spk) - len(table.keys)
    if missing > 0:
        warn(f"{where}: {missing} utterance(s) have no embedding in {table.where}; training without them")
    return table.matrix, np.asarray(labels)
