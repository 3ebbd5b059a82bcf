"""Score a trial list: map trial keys to embedding rows once, normalise once, score in chunks.

Back-ends (``method``) are registered by name in :mod:`bccmt_tools.backend.backends`: ``cosine``
(optional mean subtraction), ``asnorm`` (cosine + AS-norm against a cohort) and ``plda`` (LLR of a
trained PLDA, with its LDA / length-norm chain).
Enrolment by speaker (``enroll_spk2utt``): each enrolment id averages its utterances in the
back-end's space (unit-length vectors for cosine, the PLDA space for PLDA, where the number of
utterances also enters the LLR).

>>> import numpy as np
>>> from bccmt_tools.backend.embeddings import EmbeddingTable
>>> table = EmbeddingTable(["a", "b"], np.array([[1.0, 0.0], [1.0, 1.0]]))
>>> score_trials([("a", "b", 1)], table, table).scores.round(4)
array([0.7071])
"""

import sys
from collections import namedtuple
from operator import itemgetter

import numpy as np

from bccmt_tools.backend.backends import ScoringInputs, backend_names, check_inputs, get_backend
from bccmt_tools.backend.embeddings import warn
from bccmt_tools.backend.linalg import DEFAULT_CHUNK_SIZE, group_mean
from bccmt_tools.backend.score_norm import DEFAULT_TOP_N
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write
from bccmt_tools.io.score_format import LABEL_WORDS, score_lines

#: Names of the registered back-ends (:mod:`bccmt_tools.backend.backends`).
METHODS = backend_names()

ScoredTrials = namedtuple("ScoredTrials", "enroll test scores labels")
ScoredTrials.__doc__ = "Parallel lists of enrolment and test keys, float scores, and labels (int array or None)."


def _columns(trials, where):
    """Enrolment keys, test keys and labels (int8 array, or None when no trial has one)."""
    enroll_ids = list(map(itemgetter(0), trials))
    test_ids = list(map(itemgetter(1), trials))
    labels = list(map(itemgetter(2), trials))
    unknown = labels.count(None)
    if unknown == len(labels):
        return enroll_ids, test_ids, None
    if unknown:
        raise BccmtError(f"{where}: some trials have labels and some do not")
    return enroll_ids, test_ids, np.array(labels, dtype=np.int8)


def _unique_index(keys):
    index = {}
    for key in keys:
        if key not in index:
            index[key] = len(index)
    return index


def score_trials(trials, enroll, test, method="cosine", *, trials_where="trials", mean_vector=None,
                 cohort=None, top_n=DEFAULT_TOP_N, plda=None, enroll_spk2utt=None, skip_missing=False,
                 chunk_size=DEFAULT_CHUNK_SIZE, spk2utt_where="enrolment spk2utt"):
    """Score ``trials`` (sequence of ``(enroll, test, label)``) with EmbeddingTables ``enroll`` and
    ``test``; returns ScoredTrials in trial order (without skipped trials).

    A trial key without an embedding is an error naming it, or with ``skip_missing`` a dropped
    trial counted in a warning. So is an utterance of an enrolment speaker (``enroll_spk2utt``,
    read from ``spk2utt_where``) without an embedding: an error, or with ``skip_missing`` a warning
    counting them, the speaker then averaging the utterances it has.
    """
    if len(trials) == 0:
        raise BccmtError(f"{trials_where}: no trials")
    check_scoring_inputs(method, enroll, test, cohort, plda, mean_vector)

    enroll_ids, test_ids, labels = _columns(trials, trials_where)
    enroll_groups = _enrollment_groups(enroll_ids, enroll, enroll_spk2utt)
    if enroll_spk2utt is not None:
        _check_enrolment_utterances(enroll_groups, enroll_spk2utt, enroll, skip_missing, spk2utt_where)
    enroll_ids, test_ids, labels = _keep_scorable(enroll_ids, test_ids, labels, enroll_groups, test,
                                                  trials_where, skip_missing)
    enroll_of = _unique_index(enroll_ids)
    test_of = _unique_index(test_ids)
    enroll_index = np.fromiter(map(enroll_of.__getitem__, enroll_ids), dtype=np.int64, count=len(enroll_ids))
    test_index = np.fromiter(map(test_of.__getitem__, test_ids), dtype=np.int64, count=len(test_ids))
    score = pair_scorer(list(enroll_of), list(test_of), enroll_groups, enroll, test, method, mean_vector=mean_vector,
                        cohort=cohort, top_n=top_n, plda=plda, chunk_size=chunk_size)
    return ScoredTrials(enroll_ids, test_ids, score(enroll_index, test_index), labels)


def check_scoring_inputs(method, enroll, test, cohort=None, plda=None, mean_vector=None):
    """The errors for a method without what it needs, or tables of different dimensions."""
    check_inputs(method, enroll, test, ScoringInputs(mean_vector=mean_vector, cohort=cohort, plda=plda))


def pair_scorer(enroll_keys, test_keys, enroll_groups, enroll, test, method="cosine", *, mean_vector=None,
                cohort=None, top_n=DEFAULT_TOP_N, plda=None, chunk_size=DEFAULT_CHUNK_SIZE):
    """``score(enroll_index, test_index) -> scores`` for pairs of rows of ``enroll_keys`` (enrolment
    ids, each averaging its ``enroll_groups`` utterances) and ``test_keys``: the back-end's
    preparation (normalisation, projection, cohort statistics) is done once, here; each call only
    scores pairs. Every pair's score is computed on its own (no dependence on the other pairs of
    a call), so a trial list scored in pieces gives the same scores as scored at once."""
    backend = get_backend(method)
    inputs = ScoringInputs(mean_vector=mean_vector, cohort=cohort, top_n=top_n, plda=plda, chunk_size=chunk_size)

    def prepare(table, keys):
        return backend.prepare(table.matrix[[table.index[key] for key in keys]], keys, table.where, inputs)

    utt_keys, utt_groups = [], []
    for group, key in enumerate(enroll_keys):
        members = enroll_groups[key]
        utt_keys.extend(members)
        utt_groups.extend([group] * len(members))
    enroll_matrix, counts = group_mean(prepare(enroll, utt_keys), np.asarray(utt_groups), len(enroll_keys))
    test_matrix = prepare(test, list(test_keys))
    return backend.scorer(enroll_matrix, counts, test_matrix, enroll_keys, test_keys, enroll.where, test.where, inputs)


def _enrollment_groups(enroll_ids, enroll, enroll_spk2utt):
    """enrolment id -> list of utterance keys present in ``enroll`` (empty when none is)."""
    groups = {}
    for key in set(enroll_ids):
        if enroll_spk2utt is None:
            groups[key] = [key] if key in enroll.index else []
        else:
            groups[key] = [utt for utt in enroll_spk2utt.get(key, ()) if utt in enroll.index]
    return groups


def _check_enrolment_utterances(groups, spk2utt, enroll, skip_missing, where):
    """Utterances listed for an enrolment speaker but without an embedding: an error naming the
    first, or with ``skip_missing`` one warning with the count (speakers with none left are
    dropped by :func:`_keep_scorable`)."""
    missing = {key: [utt for utt in spk2utt.get(key, ()) if utt not in enroll.index]
               for key, members in groups.items() if members}
    missing = {key: utts for key, utts in sorted(missing.items()) if utts}
    if not missing:
        return
    if not skip_missing:
        key, utts = next(iter(missing.items()))
        listed = len(spk2utt[key])
        raise BccmtError(f"{where}: key {key!r}: utterance {utts[0]!r} has no embedding in {enroll.where} "
                         f"(the enrolment would average {listed - len(utts)} of its {listed} utterances; "
                         f"use --skip-missing to accept that)")
    total = sum(len(utts) for utts in missing.values())
    warn(f"{where}: {total} enrolment utterance(s) of {len(missing)} speaker(s) have no embedding in "
         f"{enroll.where}; those speakers average the utterances left (--skip-missing)")


def _keep_scorable(enroll_ids, test_ids, labels, enroll_groups, test, where, skip_missing):
    """Drop (``skip_missing``) or report the trials whose keys have no embedding."""
    bad_enroll = {key for key, members in enroll_groups.items() if not members}
    bad_test = {key for key in set(test_ids) if key not in test.index}
    if not bad_enroll and not bad_test:
        return enroll_ids, test_ids, labels
    keep = [e not in bad_enroll and t not in bad_test for e, t in zip(enroll_ids, test_ids)]
    if not skip_missing:
        first = keep.index(False)
        if enroll_ids[first] in bad_enroll:
            side, key, table = "enrolment", enroll_ids[first], "enrolment embeddings"
        else:
            side, key, table = "test", test_ids[first], test.where
        raise BccmtError(f"{where}: {side} key {key!r} has no embedding in {table} "
                         "(use --skip-missing to drop such trials"
                         + (", --voxceleb-paths for VoxCeleb path keys)" if "/" in key else ")"))
    num_kept = sum(keep)
    if num_kept == 0:
        raise BccmtError(f"{where}: no trial left to score: none of its keys has an embedding")
    warn(f"{where}: skipped {len(keep) - num_kept} of {len(keep)} trials whose keys have no embedding")
    enroll_ids = [key for key, ok in zip(enroll_ids, keep) if ok]
    test_ids = [key for key, ok in zip(test_ids, keep) if ok]
    if labels is not None:
        labels = labels[np.asarray(keep)]
    return enroll_ids, test_ids, labels


def write_scores(path, scored, precision=6):
    """Write ``enroll test score [target|nontarget]`` lines atomically (``-`` for stdout)."""
    labels = [] if scored.labels is None else [[LABEL_WORDS[label] for label in scored.labels.tolist()]]
    text = score_lines(scored.enroll, scored.test, scored.scores, labels, precision)
    if str(path) == "-":
        sys.stdout.write(text)
        return
    with atomic_write(path) as handle:
        handle.write(text)


_LABEL_VALUES = {"target": 1, "nontarget": 0, "1": 1, "0": 0}


def read_scores(path):
    """Read a score file (``enroll test score [target|nontarget|1|0]``); labels are None unless
    every line has one. Errors name the file and line."""
    enroll, test, scores, labels = [], [], [], []
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise BccmtError(f"{path}: cannot open: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (3, 4):
                raise BccmtError(f"{path}:{number}: expected 'enroll test score [target|nontarget]', got {line.strip()!r}")
            try:
                score = float(fields[2])
            except ValueError:
                raise BccmtError(f"{path}:{number}: score {fields[2]!r} is not a number") from None
            if not np.isfinite(score):
                raise BccmtError(f"{path}:{number}: score {fields[2]!r} is not finite")
            enroll.append(fields[0])
            test.append(fields[1])
            scores.append(score)
            if len(fields) == 4:
                if fields[3] not in _LABEL_VALUES:
                    raise BccmtError(f"{path}:{number}: label {fields[3]!r} is not target/nontarget (or 1/0)")
                labels.append(_LABEL_VALUES[fields[3]])
    if not scores:
        raise BccmtError(f"{path}: no scores")
    if labels and len(labels) != len(scores):
        raise BccmtError(f"{path}: some lines have a label and some do not")
    return ScoredTrials(enroll, test, np.asarray(scores), np.asarray(labels, dtype=np.int8) if labels else None)


def labels_from_trials(scored, trials, where="trials"):
    """Labels for each scored pair, looked up by ``(enroll, test)`` in labelled ``trials``."""
    lookup = {}
    for trial in trials:
        if trial[2] is None:
            raise BccmtError(f"{where}: trial {trial[0]} {trial[1]} has no label")
        lookup[(trial[0], trial[1])] = int(trial[2])
    labels = np.empty(len(scored.scores), dtype=np.int8)
    for i, pair in enumerate(zip(scored.enroll, scored.test)):
        label = lookup.get(pair)
        if label is None:
            raise BccmtError(f"{where}: no trial for scored pair {pair[0]} {pair[1]}")
        labels[i] = label
    return labels
