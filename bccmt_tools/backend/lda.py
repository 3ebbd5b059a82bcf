"""LDA with whitening: mean subtraction, projection to the most discriminative directions, then
whitening of the projected training data (its total covariance becomes the identity).

The projection solves the generalised eigenproblem ``S_b v = lambda S_w v`` (between-speaker and
within-speaker scatter) and keeps the ``dim`` largest eigenvalues.

>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((60, 4)) + np.repeat(rng.standard_normal((6, 4)) * 3, 10, axis=0)
>>> lda = train_lda(x, np.repeat(np.arange(6), 10), dim=2)
>>> lda.apply(x).shape
(60, 2)
"""

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write


@dataclass
class LinearTransform:
    """``y = (x - mean) @ transform`` with ``transform`` of shape ``[input_dim, output_dim]``."""

    mean: np.ndarray
    transform: np.ndarray

    @property
    def input_dim(self):
        return self.transform.shape[0]

    @property
    def output_dim(self):
        return self.transform.shape[1]

    def apply(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.input_dim:
            raise BccmtError(f"LDA expects {self.input_dim}-dim embeddings, got {x.shape[-1]}-dim")
        return (x - self.mean) @ self.transform

    def save(self, path):
        with atomic_write(path, mode="wb") as handle:
            np.savez(handle, kind="lda", mean=self.mean, transform=self.transform)

    @classmethod
    def load(cls, path):
        data = load_npz(path, "lda", ("mean", "transform"))
        check_shape(path, "lda", "mean", data["mean"], (None,))
        check_shape(path, "lda", "transform", data["transform"], (data["mean"].size, None))
        return cls(data["mean"], data["transform"])


def load_npz(path, kind, required):
    """Load a model ``.npz`` of a given ``kind``; errors name the file and the missing array."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise BccmtError(f"{path}: file not found") from None
    except Exception as exc:
        raise BccmtError(f"{path}: not a readable .npz model: {exc}") from None
    found = str(arrays.get("kind", ""))
    if found != kind:
        raise BccmtError(f"{path}: expected a {kind} model, found kind {found!r}")
    for name in required:
        if name not in arrays:
            raise BccmtError(f"{path}: {kind} model lacks the array {name!r}")
    for name, array in arrays.items():
        if name == "kind":
            continue
        if array.dtype.kind not in "biuf":
            raise BccmtError(f"{path}: array {name!r} of the {kind} model is not numeric ({array.dtype})")
        if not np.all(np.isfinite(array)):
            raise BccmtError(f"{path}: array {name!r} of the {kind} model holds NaN or infinite values "
                             "(a corrupt or diverged model): retrain it")
    return arrays


def check_shape(path, kind, name, array, shape):
    """A one-line error unless ``array`` has ``shape`` (None in ``shape`` matches any size)."""
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        wanted = " x ".join("any" if want is None else str(want) for want in shape)
        raise BccmtError(f"{path}: array {name!r} of the {kind} model has shape {array.shape}, expected {wanted}")


def class_statistics(x, labels):
    """Global mean, class means, class counts, within-class and between-class covariances
    (scatter divided by the number of samples)."""
    x = np.asarray(x, dtype=np.float64)
    classes, groups = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(groups).astype(np.float64)
    sums = np.zeros((classes.size, x.shape[1]))
    np.add.at(sums, groups, x)
    class_means = sums / counts[:, None]
    mean = x.mean(axis=0)
    centred = x - class_means[groups]
    within = centred.T @ centred / x.shape[0]
    offsets = class_means - mean
    between = (offsets * counts[:, None]).T @ offsets / x.shape[0]
    return mean, class_means, counts, groups, within, between


def within_rank(within):
    """Numerical rank of a within-speaker covariance (eigenvalues above 1e-10 of the largest).

    >>> within_rank(np.diag([2.0, 1.0, 0.0]))
    2
    """
    values = np.linalg.eigvalsh(np.asarray(within, dtype=np.float64))
    return int((values > 1e-10 * max(float(values.max()), 1e-300)).sum())


def check_within_rank(within, num_utts, num_speakers, what, where, fix):
    """A one-line :class:`BccmtError` when the within-speaker covariance is singular: ``num_utts``
    embeddings of ``num_speakers`` speakers span at most ``num_utts - num_speakers`` within-speaker
    directions, and in the others the model would divide by zero (scores of 1e9 and more)."""
    dim = within.shape[0]
    rank = within_rank(within)
    if rank < dim:
        raise BccmtError(f"{where}: {what} needs a full-rank within-speaker covariance, but {num_utts} embeddings "
                         f"of {num_speakers} speakers give rank {rank} < {dim} dimensions (at most embeddings - "
                         f"speakers = {num_utts - num_speakers}); its scores would be meaningless: {fix}")


def train_lda(x, labels, dim=None, whiten=True, where="LDA training embeddings"):
    """Fit an LDA (+ whitening) transform on embeddings ``x`` [N, D] with speaker ``labels``.

    ``dim`` defaults to ``min(D, num_speakers - 1)``, the rank of the between-speaker scatter.
    Fewer embeddings than dimensions plus speakers (a singular within-speaker scatter) is an error.
    """
    x = np.asarray(x, dtype=np.float64)
    num_classes = np.unique(np.asarray(labels)).size
    max_dim = min(x.shape[1], num_classes - 1)
    if num_classes < 2:
        raise BccmtError("LDA needs at least 2 speakers")
    dim = max_dim if dim is None else int(dim)
    if not 1 <= dim <= max_dim:
        raise BccmtError(f"LDA dimension {dim} must be between 1 and {max_dim} "
                         f"(min of embedding dim {x.shape[1]} and speakers - 1 = {num_classes - 1})")
    mean, _, _, _, within, between = class_statistics(x, labels)
    check_within_rank(within, x.shape[0], num_classes, "LDA", where,
                      f"use at least {x.shape[1] + num_classes} embeddings (more utterances per speaker), "
                      f"or score with cosine")
    ridge = 1e-6 * np.trace(within) / within.shape[0] + 1e-12
    _, vectors = scipy.linalg.eigh(between, within + ridge * np.eye(within.shape[0]))
    projection = vectors[:, ::-1][:, :dim]
    if whiten:
        projection = projection @ whitening_matrix((x - mean) @ projection)
    return LinearTransform(mean, projection)


def whitening_matrix(x):
    """``W`` such that ``(x - mean(x)) @ W`` has identity covariance. Symmetric (ZCA) whitening,
    ``C^(-1/2)``: the LDA output is already nearly decorrelated, so this is close to a per-dimension
    scaling and keeps the dimensions in order of discriminative power."""
    covariance = np.cov(x, rowvar=False, bias=True).reshape(x.shape[1], x.shape[1])
    values, vectors = np.linalg.eigh(covariance)
    values = np.maximum(values, 1e-10 * max(values.max(), 1e-30))
    return (vectors / np.sqrt(values)) @ vectors.T
