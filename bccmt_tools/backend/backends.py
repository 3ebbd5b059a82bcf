"""Scoring back-ends registered by name, like models: each one prepares embeddings into its space
(once per table) and then scores pairs of prepared rows.

A back-end is a class with ``name``, ``help``, ``uses`` (the :class:`ScoringInputs` fields it
reads besides ``chunk_size``; the tools refuse the others), ``check(inputs, dim)`` (errors for what is
missing), ``prepare(matrix, keys, where, inputs)`` (per-utterance rows in its space; enrolment
utterances are then averaged there) and ``scorer(enroll, counts, test, enroll_keys, test_keys,
enroll_where, test_where, inputs)`` returning ``score(enroll_index, test_index) -> scores``. Adding a
back-end is one class with :func:`register_backend`; ``bccmt score --method`` lists them all.

>>> backend_names()
('cosine', 'asnorm', 'plda')
>>> get_backend("plda").uses
('plda',)
>>> get_backend("svm")
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: unknown scoring method 'svm'; choose one of cosine, asnorm, plda
"""

from dataclasses import dataclass
from typing import Any

from bccmt_tools.backend.cosine import prepare_cosine
from bccmt_tools.backend.embeddings import check_same_dim, warn
from bccmt_tools.backend.linalg import DEFAULT_CHUNK_SIZE, length_normalize, paired_dot
from bccmt_tools.backend.score_norm import DEFAULT_TOP_N, as_norm, cohort_statistics
from bccmt_tools.errors import BccmtError

_BACKENDS = {}


@dataclass
class ScoringInputs:
    """What back-ends may need besides the embeddings (each reads the fields of its ``uses``)."""

    mean_vector: Any = None           # subtracted before cosine scoring (cosine, asnorm)
    cohort: Any = None                # EmbeddingTable of the AS-norm cohort
    top_n: int = DEFAULT_TOP_N        # AS-norm: highest cohort scores per side
    plda: Any = None                  # a trained backend.plda.Plda
    chunk_size: int = DEFAULT_CHUNK_SIZE


def register_backend(cls):
    """Class decorator: make a back-end available by its ``name``."""
    _BACKENDS[cls.name] = cls()
    return cls


def backend_names():
    """Registered back-end names, in registration order."""
    return tuple(_BACKENDS)


def get_backend(name):
    """The registered back-end ``name`` (an error listing the names otherwise)."""
    if name not in _BACKENDS:
        raise BccmtError(f"unknown scoring method {name!r}; choose one of {', '.join(_BACKENDS)}")
    return _BACKENDS[name]


def check_inputs(name, enroll, test, inputs):
    """The errors for back-end ``name`` without what it needs, or tables of different dimensions."""
    backend = get_backend(name)
    check_same_dim(enroll, test)
    backend.check(inputs, enroll)
    if inputs.mean_vector is not None and inputs.mean_vector.size != enroll.dim:
        raise BccmtError(f"mean vector has dimension {inputs.mean_vector.size}, embeddings have {enroll.dim}")


@register_backend
class Cosine:
    name = "cosine"
    help = "cosine similarity of length-normalised embeddings (optionally minus --mean-vector)"
    uses = ("mean_vector",)

    def check(self, inputs, enroll):
        pass

    def prepare(self, matrix, keys, where, inputs):
        return prepare_cosine(matrix, keys, inputs.mean_vector, where)

    def scorer(self, enroll, counts, test, enroll_keys, test_keys, enroll_where, test_where, inputs):
        enroll = length_normalize(enroll, list(enroll_keys), enroll_where)
        return lambda enroll_index, test_index: paired_dot(enroll, test, enroll_index, test_index, inputs.chunk_size)


@register_backend
class AsNorm(Cosine):
    name = "asnorm"
    help = "cosine + adaptive symmetric normalisation against a cohort (needs --cohort)"
    uses = ("mean_vector", "cohort", "top_n")

    def check(self, inputs, enroll):
        if inputs.cohort is None:
            raise BccmtError("--method asnorm needs a cohort (--cohort RSPEC)")
        check_same_dim(enroll, inputs.cohort)

    def scorer(self, enroll, counts, test, enroll_keys, test_keys, enroll_where, test_where, inputs):
        enroll = length_normalize(enroll, list(enroll_keys), enroll_where)
        cohort = inputs.cohort
        cohort_matrix = prepare_cosine(cohort.matrix, cohort.keys, inputs.mean_vector, cohort.where)
        top_n = inputs.top_n
        if top_n > len(cohort):
            warn(f"--top-n {top_n} is larger than the cohort {cohort.where} ({len(cohort)}); using the whole cohort")
            top_n = len(cohort)
        enroll_stats = cohort_statistics(enroll, cohort_matrix, top_n, list(enroll_keys), enroll_where)
        test_stats = cohort_statistics(test, cohort_matrix, top_n, list(test_keys), test_where)

        def score(enroll_index, test_index):
            raw = paired_dot(enroll, test, enroll_index, test_index, inputs.chunk_size)
            return as_norm(raw, enroll_index, test_index, enroll_stats, test_stats)
        return score


@register_backend
class PldaBackend:
    name = "plda"
    help = "log-likelihood ratio of a trained PLDA with its LDA / length-norm chain (needs --plda)"
    uses = ("plda",)

    def check(self, inputs, enroll):
        if inputs.plda is None:
            raise BccmtError("--method plda needs a PLDA model (--plda model.npz)")

    def prepare(self, matrix, keys, where, inputs):
        return inputs.plda.project(matrix, keys, where)

    def scorer(self, enroll, counts, test, enroll_keys, test_keys, enroll_where, test_where, inputs):
        plda, chunk_size = inputs.plda, inputs.chunk_size
        return lambda enroll_index, test_index: plda.llr(enroll, counts, test, enroll_index, test_index, chunk_size)


def describe_backends():
    """``name: help`` lines of every registered back-end (``bccmt score --list-methods -v``)."""
    return [f"{name}: {backend.help}" for name, backend in _BACKENDS.items()]
