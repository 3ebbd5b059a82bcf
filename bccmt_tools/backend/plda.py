"""Two-covariance PLDA trained by EM, scored by a closed-form log-likelihood ratio.

Model (after the pre-processing chain): ``x = mu + y + e`` with speaker variable
``y ~ N(0, B)`` and residual ``e ~ N(0, W)``. EM follows the method of Kaldi's
``ivector-compute-plda`` (E-step: posterior of each speaker's ``y`` from its utterance mean;
M-step: ``B`` and ``W`` from the expected statistics); this is our own implementation.

For scoring, ``transform`` (rows) maps ``x - mu`` to a space where ``W = I`` and ``B = diag(psi)``.
An enrolment averaged over ``n`` utterances with mean ``u`` and a test ``v`` (one utterance) give

    LLR = log N(v; n psi / (n psi + 1) u, 1 + psi / (n psi + 1)) - log N(v; 0, 1 + psi)

(diagonal Gaussians), which for ``n = 1`` is the symmetric two-covariance LLR.

Pre-processing chain stored with the model: optional LDA (mean, projection with whitening), then
optional length normalisation to norm ``sqrt(dim)``.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.linalg

from bccmt_tools.backend.lda import LinearTransform, check_shape, check_within_rank, class_statistics, load_npz
from bccmt_tools.backend.linalg import DEFAULT_CHUNK_SIZE, length_normalize, paired_dot
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write


def estimate_two_covariance(x, labels, num_iters=10, progress=None, where="PLDA training embeddings"):
    """EM estimate of ``(mu, B, W)`` for embeddings ``x`` [N, d] with speaker ``labels``.

    Initialised with the moment estimates (between-speaker covariance of speaker means and
    within-speaker covariance); speakers sharing an utterance count share one posterior covariance,
    so each iteration costs a few ``d x d`` inversions per distinct count.
    """
    x = np.asarray(x, dtype=np.float64)
    mu, class_means, counts, groups, within, between = class_statistics(x, labels)
    num_speakers, num_utts, dim = counts.size, x.shape[0], x.shape[1]
    if num_speakers < 2:
        raise BccmtError("PLDA needs at least 2 speakers")
    if np.all(counts < 2):
        raise BccmtError("PLDA needs speakers with at least 2 utterances to estimate within-speaker variance")
    check_within_rank(within, num_utts, num_speakers, "PLDA", where,
                      f"reduce the dimension first (train-lda --dim {max(1, min(num_utts - num_speakers, num_speakers - 1))} "
                      f"or less, then train-plda --lda) or use more embeddings")
    centred_means = class_means - mu
    # Scatter of utterances around their own speaker mean: fixed over iterations.
    scatter_within = within * num_utts
    between = np.cov(centred_means, rowvar=False, bias=True).reshape(dim, dim)
    ridge = 1e-8 * np.eye(dim)
    for iteration in range(num_iters):
        inv_between = np.linalg.inv(between + ridge)
        inv_within = np.linalg.inv(within + ridge)
        between_acc = np.zeros((dim, dim))
        within_acc = scatter_within.copy()
        for n in np.unique(counts):
            members = counts == n
            posterior_cov = np.linalg.inv(inv_between + n * inv_within)
            gain = n * posterior_cov @ inv_within  # y = gain @ m
            means = centred_means[members] @ gain.T
            residuals = centred_means[members] - means
            k = members.sum()
            between_acc += k * posterior_cov + means.T @ means
            within_acc += n * (k * posterior_cov + residuals.T @ residuals)
        between = _symmetric(between_acc / num_speakers)
        within = _symmetric(within_acc / num_utts)
        if progress:
            progress(iteration + 1, between, within)
    return mu, between, within


def _symmetric(matrix):
    return 0.5 * (matrix + matrix.T)


def diagonalize(between, within):
    """Rows ``A`` and ``psi`` with ``A W A^T = I`` and ``A B A^T = diag(psi)``, psi descending."""
    psi, vectors = scipy.linalg.eigh(between, within)
    order = np.argsort(psi)[::-1]
    return vectors[:, order].T, np.maximum(psi[order], 0.0)


@dataclass
class Plda:
    """A trained PLDA with its pre-processing chain; see the module docstring."""

    mean: np.ndarray
    between: np.ndarray
    within: np.ndarray
    lda: Optional[LinearTransform] = None
    length_norm: bool = True

    def __post_init__(self):
        self.transform, self.psi = diagonalize(self.between, self.within)

    @property
    def input_dim(self):
        return self.lda.input_dim if self.lda is not None else self.mean.size

    def preprocess(self, x, keys=None, where="embeddings"):
        """Apply the chain (LDA, length normalisation) to raw embeddings ``x`` [N, D]."""
        return apply_chain(x, self.lda, self.length_norm, self.input_dim, keys, where)

    def project(self, x, keys=None, where="embeddings"):
        """Raw embeddings -> the diagonal PLDA space (``W = I``, ``B = diag(psi)``)."""
        return (self.preprocess(x, keys, where) - self.mean) @ self.transform.T

    def llr(self, enroll, enroll_counts, test, enroll_index, test_index, chunk_size=DEFAULT_CHUNK_SIZE):
        """LLR for pairs of projected enrolment means (``enroll_counts`` utterances each) and
        projected test embeddings, vectorised. Expanding the Gaussians, the LLR is a per-enrolment
        constant, a bilinear term ``v . (gain * u / given_var)`` gathered pairwise in chunks, and a
        quadratic term in ``v`` that depends on the enrolment only through its count, so it is
        computed once per test embedding and distinct count."""
        psi = self.psi
        counts, count_id = np.unique(np.asarray(enroll_counts, dtype=np.float64), return_inverse=True)
        n = counts[:, None]
        gain = n * psi / (n * psi + 1.0)                     # [C, d] posterior mean factor per count
        given_var = 1.0 + psi / (n * psi + 1.0)              # [C, d] predictive variance per count
        without_var = 1.0 + psi                              # [d]
        shifted = gain[count_id] * enroll                    # [E, d] predicted test mean
        constant = (-0.5 * np.log(given_var).sum(axis=1)[count_id] + 0.5 * np.log(without_var).sum()
                    - 0.5 * (shifted ** 2 / given_var[count_id]).sum(axis=1))
        quadratic = (test ** 2) @ (0.5 * (1.0 / without_var - 1.0 / given_var)).T   # [T, C]
        enroll_index = np.asarray(enroll_index, dtype=np.int64)
        test_index = np.asarray(test_index, dtype=np.int64)
        bilinear = paired_dot(shifted / given_var[count_id], test, enroll_index, test_index, chunk_size)
        return constant[enroll_index] + bilinear + quadratic[test_index, count_id[enroll_index]]

    def save(self, path):
        arrays = {"kind": "plda", "mean": self.mean, "between": self.between, "within": self.within,
                  "transform": self.transform, "psi": self.psi, "length_norm": self.length_norm}
        if self.lda is not None:
            arrays.update(lda_mean=self.lda.mean, lda_transform=self.lda.transform)
        with atomic_write(path, mode="wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path):
        data = load_npz(path, "plda", ("mean", "between", "within", "length_norm"))
        check_shape(path, "plda", "mean", data["mean"], (None,))
        dim = data["mean"].size
        for name in ("between", "within"):
            check_shape(path, "plda", name, data[name], (dim, dim))
        lda = None
        if "lda_transform" in data:
            if "lda_mean" not in data:
                raise BccmtError(f"{path}: plda model has 'lda_transform' but lacks the array 'lda_mean'")
            check_shape(path, "plda", "lda_mean", data["lda_mean"], (None,))
            check_shape(path, "plda", "lda_transform", data["lda_transform"], (data["lda_mean"].size, dim))
            lda = LinearTransform(data["lda_mean"], data["lda_transform"])
        try:
            return cls(data["mean"], data["between"], data["within"], lda, bool(data["length_norm"]))
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise BccmtError(f"{path}: not a usable plda model ({exc}): retrain it") from None


def apply_chain(x, lda, length_norm, input_dim=None, keys=None, where="embeddings"):
    """Pre-processing before PLDA: optional LDA, then optional length normalisation to
    ``sqrt(dim)`` (the expected norm of a whitened vector)."""
    x = np.asarray(x, dtype=np.float64)
    if input_dim is not None and x.shape[1] != input_dim:
        raise BccmtError(f"{where}: {x.shape[1]}-dim embeddings, but the PLDA model expects "
                         f"{input_dim}-dim ones")
    if lda is not None:
        x = lda.apply(x)
    if length_norm:
        x = length_normalize(x, keys, where, scale=np.sqrt(x.shape[1]))
    return x


def train_plda(x, labels, lda=None, length_norm=True, num_iters=10, progress=None, keys=None,
               where="PLDA training embeddings"):
    """Apply the chain (``lda``, length normalisation) to ``x`` and fit a two-covariance PLDA
    (a singular within-speaker covariance, from too few embeddings, is an error naming ``where``)."""
    prepared = apply_chain(x, lda, length_norm, keys=keys, where=where)
    mu, between, within = estimate_two_covariance(prepared, labels, num_iters, progress, where)
    return Plda(mu, between, within, lda, length_norm)
