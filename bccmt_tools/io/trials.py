"""Trial lists in the three usual formats, and VoxCeleb paths as utterance ids.

- ``voxceleb``: ``1|0 enroll test`` (1 = target), as in ``veri_test2.txt``;
- ``kaldi``: ``enroll test target|nontarget``;
- ``plain``: ``enroll test`` (no label).

>>> voxceleb_path_to_utt("id10270/5r0dWxy17C8/00001.wav")
'id10270-5r0dWxy17C8-00001'
>>> write_trials("/tmp/bccmt-doc-trials", [Trial("a", "b", 1), Trial("a", "c", 0)], "kaldi")
>>> open("/tmp/bccmt-doc-trials").read()
'a b target\\na c nontarget\\n'
>>> read_trials("/tmp/bccmt-doc-trials")[1]
Trial(enroll='a', test='c', label=0)
"""

from __future__ import annotations

import collections
import sys
from collections import namedtuple

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write

Trial = namedtuple("Trial", ["enroll", "test", "label"])
Trial.__doc__ = "One trial: enrolment id, test id, label 1 (target), 0 (nontarget) or None (unknown)."

FORMATS = ("kaldi", "voxceleb", "plain")
_VOXCELEB_LABELS = {"1": 1, "0": 0}
_KALDI_LABELS = {"target": 1, "nontarget": 0}


def voxceleb_path_to_utt(path):
    """A VoxCeleb path ``<spk>/<video>/<file>.<ext>`` -> utterance id ``<spk>-<video>-<file>``.

    This is the utterance-id convention of the whole toolkit (VoxCeleb1 and VoxCeleb2 alike).
    Leading folders (``wav/``, ``dev/aac/``) are ignored; only the last three parts count.

    >>> voxceleb_path_to_utt("dev/aac/id00012/-21Uxsk56VDQ/00001.m4a")
    'id00012--21Uxsk56VDQ-00001'
    """
    parts = [part for part in str(path).replace("\\", "/").split("/") if part and part != "."]
    if len(parts) < 3:
        raise BccmtError(f"{path!r}: not a VoxCeleb path <speaker>/<video>/<file> (needs three parts)")
    speaker, video, name = parts[-3:]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    if not stem:
        raise BccmtError(f"{path!r}: not a VoxCeleb path <speaker>/<video>/<file> (empty file name)")
    return f"{speaker}-{video}-{stem}"


def _line_formats(fields):
    """The formats a split line fits (a line can fit two, e.g. ``1 a target``)."""
    fits = set()
    if len(fields) == 3:
        if fields[0] in _VOXCELEB_LABELS:
            fits.add("voxceleb")
        if fields[2] in _KALDI_LABELS:
            fits.add("kaldi")
    elif len(fields) == 2:
        fits.add("plain")
    return fits


def _trial_from_fields(fields, fmt):
    if fmt == "voxceleb":
        return Trial(fields[1], fields[2], _VOXCELEB_LABELS[fields[0]])
    if fmt == "kaldi":
        return Trial(fields[0], fields[1], _KALDI_LABELS[fields[2]])
    return Trial(fields[0], fields[1], None)


def _open_text(path):
    if str(path) == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8")
    except FileNotFoundError:
        raise BccmtError(f"{path}: no such file") from None
    except OSError as exc:
        raise BccmtError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_trials_with_format(path, map_voxceleb_paths=False):
    """Read a trial list; returns ``(trials, format)`` with the format detected from its lines.

    Every line must fit the same format; a malformed line or a mix of formats is a BccmtError
    naming ``file:line``. ``map_voxceleb_paths`` turns VoxCeleb paths into utterance ids.
    """
    handle = _open_text(path)
    rows, fits_all, first_of = [], None, {}
    try:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            fits = _line_formats(fields)
            if not fits:
                raise BccmtError(f"{path}:{number}: malformed trial {line.strip()!r}; expected "
                                 "'1|0 enroll test', 'enroll test target|nontarget' or 'enroll test'")
            for fmt in fits:
                first_of.setdefault(fmt, number)
            if fits_all is not None and not fits_all & fits:
                seen = sorted(fits_all)[0]
                raise BccmtError(f"{path}:{number}: trial in {'/'.join(sorted(fits))} format, but line "
                                 f"{first_of[seen]} is in {seen} format (mixed formats)")
            fits_all = fits if fits_all is None else fits_all & fits
            rows.append(fields)
    except UnicodeDecodeError as exc:
        raise BccmtError(f"{path}: not UTF-8 text ({exc.reason})") from None
    finally:
        if handle is not sys.stdin:
            handle.close()
    if not rows:
        raise BccmtError(f"{path}: empty trial list")
    # A file whose every line fits two formats (``1 x target``) is read as VoxCeleb, the more common.
    fmt = "voxceleb" if "voxceleb" in fits_all else sorted(fits_all)[0]
    trials = [_trial_from_fields(fields, fmt) for fields in rows]
    if map_voxceleb_paths:
        trials = [Trial(voxceleb_path_to_utt(t.enroll), voxceleb_path_to_utt(t.test), t.label) for t in trials]
    return trials, fmt


def read_trials(path, map_voxceleb_paths=False):
    """Read a trial list in any of the three formats (detected) as a list of Trial."""
    return read_trials_with_format(path, map_voxceleb_paths)[0]


def format_trial(trial, fmt):
    """One line (without newline) for ``trial`` in format ``fmt``."""
    if fmt == "plain":
        return f"{trial.enroll} {trial.test}"
    if trial.label not in (0, 1):
        raise BccmtError(f"trial {trial.enroll} {trial.test}: has no label; the {fmt} format needs one "
                         "(write it as plain)")
    if fmt == "kaldi":
        return f"{trial.enroll} {trial.test} {'target' if trial.label == 1 else 'nontarget'}"
    if fmt == "voxceleb":
        return f"{trial.label} {trial.enroll} {trial.test}"
    raise BccmtError(f"unknown trial format {fmt!r}; choose one of {', '.join(FORMATS)}")


def write_trials(path, trials, fmt):
    """Write trials in ``fmt`` (``kaldi``, ``voxceleb`` or ``plain``), atomically; ``-`` = stdout."""
    if fmt not in FORMATS:
        raise BccmtError(f"unknown trial format {fmt!r}; choose one of {', '.join(FORMATS)}")
    lines = []
    for trial in trials:
        for name in (trial.enroll, trial.test):
            if not name or any(ch.isspace() for ch in name):
                raise BccmtError(f"{path}: invalid id {name!r} in trial {trial} (no spaces allowed)")
        lines.append(format_trial(trial, fmt) + "\n")
    if str(path) == "-":
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    with atomic_write(path) as handle:
        handle.writelines(lines)


def _pairs(count):
    return count * (count - 1) // 2


def make_trials(utt2spk, num_target, num_nontarget, seed=0, utt2text=None):
    """Draw a labelled trial list from ``utt2spk`` (dict utt -> speaker), deterministically.

    Target trials pair two different utterances of one speaker (speakers drawn uniformly, so
    speakers with many utterances do not dominate); non-target trials pair utterances of two
    different speakers. No pair is drawn twice (in either order). Trials come back sorted. With
    ``utt2text`` (dict utt -> transcript), no target trial pairs two readings of one text, so a
    target trial cannot be won by matching the words.

    >>> utt2spk = {f"s{s}-u{u}": f"s{s}" for s in range(4) for u in range(3)}
    >>> trials = make_trials(utt2spk, 5, 5, seed=1)
    >>> len(trials), sum(t.label for t in trials)
    (10, 5)
    >>> all((utt2spk[t.enroll] == utt2spk[t.test]) == (t.label == 1) for t in trials)
    True
    >>> text = {utt: utt[-1] for utt in utt2spk}  # u0 and u1 differ, ...
    >>> text["s0-u1"] = text["s0-u0"]              # ... but speaker s0 reads one text twice
    >>> pairs = {(t.enroll, t.test) for t in make_trials(utt2spk, 11, 1, seed=1, utt2text=text)}
    >>> ("s0-u0", "s0-u1") in pairs
    False
    """
    import random

    spk2utts = {}
    for utt, spk in sorted(utt2spk.items()):
        spk2utts.setdefault(spk, []).append(utt)
    if utt2text is not None:
        missing = sorted(utt for utt in utt2spk if utt not in utt2text)
        if missing:
            raise BccmtError(f"utterance {missing[0]!r} has no text ({len(missing)} without one)")
    same_text = (lambda a, b: utt2text[a] == utt2text[b]) if utt2text is not None else (lambda a, b: False)
    pairs_of = {spk: _pairs(len(utts)) for spk, utts in spk2utts.items()}
    same_speaker_pairs = sum(pairs_of.values())
    if utt2text is not None:  # minus the pairs that read one text
        for spk, utts in spk2utts.items():
            pairs_of[spk] -= sum(_pairs(n) for n in collections.Counter(utt2text[u] for u in utts).values())
    multi = [spk for spk, count in pairs_of.items() if count > 0]
    possible_targets = sum(pairs_of.values())
    utts = sorted(utt2spk)
    possible_nontargets = _pairs(len(utts)) - same_speaker_pairs
    if num_target > possible_targets:
        raise BccmtError(f"asked for {num_target} target trials; the speakers' utterances allow {possible_targets}"
                         + (" (with different texts)" if utt2text is not None else ""))
    if num_nontarget > possible_nontargets:
        raise BccmtError(f"asked for {num_nontarget} non-target trials; {len(spk2utts)} speaker(s) allow "
                         f"{possible_nontargets}")
    rng = random.Random(seed)
    seen, trials = set(), []

    def add(a, b, label):
        pair = (a, b) if a < b else (b, a)
        if a == b or pair in seen:
            return False
        seen.add(pair)
        trials.append(Trial(pair[0], pair[1], label))
        return True

    count = 0
    while count < num_target:
        first, second = rng.sample(spk2utts[rng.choice(multi)], 2)
        if not same_text(first, second):
            count += add(first, second, 1)
    count = 0
    while count < num_nontarget:
        first, second = rng.sample(utts, 2)
        if utt2spk[first] != utt2spk[second]:
            count += add(first, second, 0)
    return sorted(trials)
