"""``bccmt score`` on a trial file, end to end, fast and in bounded memory.

The trial list is read in chunks (:mod:`bccmt_tools.io.trial_stream`: vectorised parsing, keys as
ids into a vocabulary of distinct keys) and kept as compact id arrays (9 bytes per trial; spooled
to a temporary file beyond :data:`SPOOL_TRIALS` trials, so lists larger than memory work). Once
the whole list is known, the same decisions as :func:`bccmt_tools.backend.scoring.score_trials`
are taken in the same order (enrolment groups, missing keys, first-appearance order of the
enrolment and test ids) and the back-end is prepared once
(:func:`~bccmt_tools.backend.scoring.pair_scorer`). Then each chunk is scored (when the list
repeats pairs, as lists over few utterances do, every distinct pair is scored once into a table
that the trials look up) and its lines
formatted by numpy (:mod:`bccmt_tools.io.score_format`) and written: the output equals
``write_scores(score_trials(read_trials(...)))`` byte for byte.
"""

import os
import sys
import tempfile

import numpy as np

from bccmt_tools.backend.embeddings import warn
from bccmt_tools.backend.linalg import DEFAULT_CHUNK_SIZE
from bccmt_tools.backend.score_norm import DEFAULT_TOP_N
from bccmt_tools.backend.scoring import (_check_enrolment_utterances, _enrollment_groups, check_scoring_inputs,
                                         pair_scorer)
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write
from bccmt_tools.io.score_format import KeyTable, format_lines
from bccmt_tools.io.trial_stream import DEFAULT_CHUNK_BYTES, KeyVocabulary, trial_chunks

SPOOL_TRIALS = 8_000_000  # trials kept in memory (72 MB of ids) before they go to a temporary file
PAIR_TABLE_LIMIT = 1 << 22  # distinct pairs scored into a table (32 MB) when trials repeat pairs


class _Spool:
    """Chunks of ``(enroll ids, test ids, labels)`` kept in memory, then in a temporary file."""

    def __init__(self, limit=SPOOL_TRIALS):
        self.limit = limit
        self.chunks = []
        self.count = 0
        self.file = None

    def add(self, enroll, test, labels):
        self.count += enroll.size
        item = (enroll.astype(np.int32), test.astype(np.int32), labels)
        if self.file is None and self.count > self.limit:
            self.file = tempfile.TemporaryFile(prefix="bccmt-score-")
            for chunk in self.chunks:
                self._save(chunk)
            self.chunks = []
        if self.file is None:
            self.chunks.append(item)
        else:
            self._save(item)

    def _save(self, item):
        enroll, test, labels = item
        np.save(self.file, enroll)
        np.save(self.file, test)
        np.save(self.file, labels if labels is not None else np.zeros(0, dtype=np.int8))

    def __iter__(self):
        if self.file is None:
            yield from self.chunks
            return
        self.file.seek(0)
        while self.file.tell() < os.fstat(self.file.fileno()).st_size:
            enroll, test, labels = (np.load(self.file) for _ in range(3))
            yield enroll, test, (labels if labels.size or not enroll.size else None)

    def close(self):
        if self.file is not None:
            self.file.close()


def _first_appearance(ids, seen, order):
    """Append to ``order`` the ids of ``ids`` not in ``seen`` (bool array), in order of first appearance."""
    new = ~seen[ids]
    if not new.any():
        return
    positions = np.flatnonzero(new)
    ids = ids[positions]
    unique, first = np.unique(ids, return_index=True)
    new = ~seen[unique]
    if new.any():
        fresh = unique[new][np.argsort(first[new], kind="stable")]
        seen[fresh] = True
        order.extend(fresh.tolist())


def score_trial_file(trials_path, enroll, test, out, method="cosine", *, mean_vector=None, cohort=None,
                     top_n=DEFAULT_TOP_N, plda=None, enroll_spk2utt=None, skip_missing=False,
                     chunk_size=DEFAULT_CHUNK_SIZE, spk2utt_where="enrolment spk2utt", map_voxceleb_paths=False,
                     precision=6, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Score the trial file ``trials_path`` and write ``enroll test score [target|nontarget]`` lines
    to ``out`` (atomically; ``-`` for stdout); returns the number of trials written. Arguments and
    errors as :func:`~bccmt_tools.backend.scoring.score_trials` plus ``read_trials``."""
    check_scoring_inputs(method, enroll, test, cohort, plda, mean_vector)
    vocabulary = KeyVocabulary(map_voxceleb_paths)
    spool = _Spool()
    try:
        plan = _read_and_plan(trials_path, vocabulary, spool, enroll, test, enroll_spk2utt, skip_missing,
                              spk2utt_where, chunk_bytes)
        score = pair_scorer([vocabulary.keys[i] for i in plan["enroll_order"]],
                            [vocabulary.keys[i] for i in plan["test_order"]], plan["groups"], enroll, test, method,
                            mean_vector=mean_vector, cohort=cohort, top_n=top_n, plda=plda, chunk_size=chunk_size)
        keys = KeyTable(vocabulary.keys)
        enroll_row, test_row = plan["enroll_row"], plan["test_row"]
        num_enroll, num_test = len(plan["enroll_order"]), len(plan["test_order"])
        if num_enroll * num_test <= min(PAIR_TABLE_LIMIT, spool.count // 4):  # few distinct pairs
            table = _pair_table(score, num_enroll, num_test)
            score = lambda enroll_index, test_index: table[enroll_index, test_index]  # noqa: E731

        def write(handle):
            written = 0
            for enroll_ids, test_ids, labels in spool:
                keep = (enroll_row[enroll_ids] >= 0) & (test_row[test_ids] >= 0)
                if not keep.all():
                    enroll_ids, test_ids = enroll_ids[keep], test_ids[keep]
                    labels = labels[keep] if labels is not None else None
                scores = _score_chunk(score, enroll_row[enroll_ids], test_row[test_ids], num_enroll, num_test)
                handle.write(format_lines(keys, enroll_ids, keys, test_ids, scores, labels, precision))
                written += scores.size
            return written

        if str(out) == "-":
            sys.stdout.flush()
            written = write(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with atomic_write(out, mode="wb") as handle:
                written = write(handle)
        return written
    finally:
        spool.close()


def _score_chunk(score, enroll_index, test_index, num_enroll, num_test):
    return score(enroll_index.astype(np.int64), test_index.astype(np.int64))


def _pair_table(score, num_enroll, num_test):
    """Scores of every (enrolment, test) pair, ``[num_enroll, num_test]`` (each pair's score is
    computed on its own, so looking it up equals scoring the trial)."""
    enroll_index = np.repeat(np.arange(num_enroll, dtype=np.int64), num_test)
    test_index = np.tile(np.arange(num_test, dtype=np.int64), num_enroll)
    return score(enroll_index, test_index).reshape(num_enroll, num_test)


def _read_and_plan(trials_path, vocabulary, spool, enroll, test, enroll_spk2utt, skip_missing, spk2utt_where,
                   chunk_bytes):
    """First pass: read the trials into ``spool`` and take score_trials' decisions."""
    capacity = 1024
    bad_enroll = np.zeros(capacity, dtype=bool)
    bad_test = np.zeros(capacity, dtype=bool)
    used_enroll = np.zeros(capacity, dtype=bool)
    seen_enroll, seen_test = np.zeros(capacity, dtype=bool), np.zeros(capacity, dtype=bool)
    enroll_order, test_order = [], []
    groups = {}
    known = 0  # vocabulary entries classified so far
    first_bad, total, dropped = None, 0, 0
    for chunk in trial_chunks(trials_path, vocabulary, chunk_bytes):
        if len(vocabulary.keys) > known:
            if len(vocabulary.keys) > capacity:
                capacity = max(2 * capacity, len(vocabulary.keys))
                bad_enroll, bad_test, used_enroll, seen_enroll, seen_test = (
                    np.concatenate([array, np.zeros(capacity - array.size, dtype=bool)])
                    for array in (bad_enroll, bad_test, used_enroll, seen_enroll, seen_test))
            new_keys = vocabulary.keys[known:]
            new_groups = _enrollment_groups(new_keys, enroll, enroll_spk2utt)
            groups.update(new_groups)
            bad_enroll[known:len(vocabulary.keys)] = [not new_groups[key] for key in new_keys]
            bad_test[known:len(vocabulary.keys)] = [key not in test.index for key in new_keys]
            known = len(vocabulary.keys)
        used_enroll[chunk.enroll] = True
        keep = ~(bad_enroll[chunk.enroll] | bad_test[chunk.test])
        if not keep.all():
            if first_bad is None:
                row = int(np.argmin(keep))
                first_bad = (int(chunk.enroll[row]), int(chunk.test[row]))
            dropped += int((~keep).sum())
        _first_appearance(chunk.enroll[keep], seen_enroll, enroll_order)
        _first_appearance(chunk.test[keep], seen_test, test_order)
        total += chunk.enroll.size
        spool.add(chunk.enroll, chunk.test, chunk.labels)

    used_groups = {vocabulary.keys[i]: groups[vocabulary.keys[i]] for i in np.flatnonzero(used_enroll[:known])}
    if enroll_spk2utt is not None:
        _check_enrolment_utterances(used_groups, enroll_spk2utt, enroll, skip_missing, spk2utt_where)
    if first_bad is not None:
        enroll_id, test_id = first_bad
        if not skip_missing:
            if bad_enroll[enroll_id]:
                side, key, table = "enrolment", vocabulary.keys[enroll_id], "enrolment embeddings"
            else:
                side, key, table = "test", vocabulary.keys[test_id], test.where
            raise BccmtError(f"{trials_path}: {side} key {key!r} has no embedding in {table} "
                             "(use --skip-missing to drop such trials"
                             + (", --voxceleb-paths for VoxCeleb path keys)" if "/" in key else ")"))
        if dropped == total:
            raise BccmtError(f"{trials_path}: no trial left to score: none of its keys has an embedding")
        warn(f"{trials_path}: skipped {dropped} of {total} trials whose keys have no embedding")
    enroll_row = np.full(known, -1, dtype=np.int64)
    enroll_row[enroll_order] = np.arange(len(enroll_order))
    test_row = np.full(known, -1, dtype=np.int64)
    test_row[test_order] = np.arange(len(test_order))
    return {"enroll_order": enroll_order, "test_order": test_order, "groups": used_groups,
            "enroll_row": enroll_row, "test_row": test_row}
