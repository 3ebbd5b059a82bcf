"""Validation of Kaldi data dirs: find every problem, each naming its file and key.

``bccmt validate-data-dir`` wraps :func:`validate_data_dir`.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from pathlib import Path

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.datadir import SPK2UTT, DataDir, is_per_utt_file, numbered_lines, split_kv_line

#: Extensions of files that a ``wav.scp`` pipe command reads (checked for existence).
AUDIO_EXTENSIONS = (".wav", ".flac", ".m4a", ".mp3", ".mp4", ".aac", ".ogg", ".opus", ".sph")
_ARK_REFERENCE = re.compile(r"^(?P<ark>.+):(?P<offset>\d+)(\[[^\]]*\])?$")
SCP_FILES = ("wav.scp", "feats.scp", "vad.scp")


class Problem:
    """One finding: ``file`` it is in, a ``kind`` (to group similar ones), the full ``message``."""

    __slots__ = ("file", "kind", "message")

    def __init__(self, file, kind, message):
        self.file, self.kind, self.message = str(file), kind, message

    def __repr__(self):
        return f"Problem({self.message!r})"


class ValidationReport:
    """Errors and warnings found in a data dir, plus its size."""

    def __init__(self, path):
        self.path = Path(path)
        self.errors, self.warnings = [], []
        self.num_utts = self.num_spks = 0

    def error(self, file, kind, message):
        self.errors.append(Problem(file, kind, message))

    def warn(self, file, kind, message):
        self.warnings.append(Problem(file, kind, message))

    @property
    def ok(self):
        return not self.errors


def entry_problem(value, file_sizes=None):
    """Why a ``wav.scp``/``feats.scp`` entry cannot be read (None when it looks readable).

    Plain paths must exist; for ``ark:offset`` references the archive must exist and be longer
    than the offset; for pipes (``cmd |``) only arguments that look like audio files are checked.
    """
    value = value.strip()
    if value.endswith("|"):
        try:
            tokens = shlex.split(value[:-1])
        except ValueError:
            return None
        for token in tokens:
            if token.lower().endswith(AUDIO_EXTENSIONS) and not token.startswith("-") and not os.path.exists(token):
                return f"pipe input not found: {token}"
        return None
    if os.path.isfile(value):
        return None
    match = _ARK_REFERENCE.match(value)
    if match is None:
        return f"file not found: {value}"
    ark, offset = match.group("ark"), int(match.group("offset"))
    sizes = {} if file_sizes is None else file_sizes
    if ark not in sizes:
        sizes[ark] = os.path.getsize(ark) if os.path.isfile(ark) else None
    if sizes[ark] is None:
        return f"archive not found: {ark}"
    if offset >= sizes[ark]:
        return f"offset {offset} is past the end of {ark} ({sizes[ark]} bytes)"
    return None


def _scan_table(path, report):
    """Read a table the forgiving way, reporting blank lines, missing values, repeats, disorder."""
    table, first_line, previous = {}, {}, None
    try:
        for number, line in numbered_lines(path):
            key, value = split_kv_line(line)
            if key is None:
                report.error(path, "blank line", f"{path}:{number}: blank line")
                continue
            if not value:
                report.error(path, "no value", f"{path}:{number}: key {key!r}: no value")
            if key in first_line:
                report.error(path, "duplicate", f"{path}:{number}: key {key!r}: duplicate key "
                             f"(first on line {first_line[key]})")
                continue
            if previous is not None and key < previous:
                report.error(path, "unsorted", f"{path}:{number}: key {key!r}: not sorted (comes after "
                             f"{previous!r}; sort with LC_ALL=C or run bccmt fix-data-dir)")
            table[key], first_line[key], previous = value, number, key
    except BccmtError as exc:
        report.error(path, "unreadable", str(exc))
    return table


def _check_speakers(data, tables, report):
    utt2spk, spk2utt_raw = tables.get("utt2spk"), tables.get(SPK2UTT)
    utt2spk_path, spk2utt_path = data.file("utt2spk"), data.file(SPK2UTT)
    for utt, spk in utt2spk.items():
        if len(spk.split()) > 1:
            report.error(utt2spk_path, "bad speaker", f"{utt2spk_path}: key {utt!r}: speaker id with spaces: {spk!r}")
        elif spk and not utt.startswith(spk):
            report.warn(utt2spk_path, "prefix", f"{utt2spk_path}: key {utt!r}: utterance id does not start "
                        f"with its speaker id {spk!r} (Kaldi expects speaker-prefixed ids)")
    if spk2utt_raw is None:
        return
    listed = {}
    for spk, value in spk2utt_raw.items():
        utts = value.split()
        if utts != sorted(utts):
            report.error(spk2utt_path, "unsorted", f"{spk2utt_path}: key {spk!r}: utterances not sorted")
        for utt in utts:
            if utt in listed:
                report.error(spk2utt_path, "duplicate", f"{spk2utt_path}: key {spk!r}: utterance {utt!r} "
                             f"is also listed under {listed[utt]!r}")
                continue
            listed[utt] = spk
            if utt not in utt2spk:
                report.error(spk2utt_path, "inconsistent", f"{spk2utt_path}: key {spk!r}: utterance {utt!r} "
                             "is not in utt2spk")
            elif utt2spk[utt] != spk:
                report.error(spk2utt_path, "inconsistent", f"{spk2utt_path}: key {spk!r}: utterance {utt!r} "
                             f"belongs to {utt2spk[utt]!r} in utt2spk")
    for utt, spk in utt2spk.items():
        if utt not in listed:
            report.error(spk2utt_path, "inconsistent", f"{spk2utt_path}: key {spk!r}: does not list "
                         f"utterance {utt!r} (utt2spk does)")


def _check_values(data, tables, report):
    for name, parse in (("utt2num_frames", int), ("utt2dur", float)):
        path = data.file(name)
        for key, value in tables.get(name, {}).items():
            try:
                number = parse(value)
                good = number > 0 and math.isfinite(number)
            except ValueError:
                good = False
            if not good and value:
                kind = "positive integer" if parse is int else "positive number of seconds"
                report.error(path, "bad value", f"{path}: key {key!r}: expected a {kind}, got {value!r}")


def validate_data_dir(path, check_entries=True, refuse_pipes=None):
    """Check a data dir and return a ValidationReport listing every problem found.

    Checks: required files, C-sorted unique keys, ``utt2spk``/``spk2utt`` agreement, equal key
    sets in the per-utterance files, positive ``utt2num_frames``/``utt2dur``, and (unless
    ``check_entries`` is False) that ``wav.scp``/``feats.scp`` entries point at existing files.
    Utterance ids not prefixed by their speaker id are warnings. With ``refuse_pipes`` (default:
    when ``BCCMT_NO_PIPES`` is set) every ``cmd |`` entry is an error: reading it runs the command.
    """
    from bccmt_tools.io.pipes import pipes_allowed, runs_command

    if refuse_pipes is None:
        refuse_pipes = not pipes_allowed()
    report = ValidationReport(path)
    if not Path(path).is_dir():
        report.error(path, "missing", f"{path}: no such directory")
        return report
    data = DataDir(path)
    if data.has("segments"):
        report.error(data.file("segments"), "unsupported", f"{data.file('segments')}: segments are not "
                     "supported (wav.scp must be keyed by utterance id)")
    names = data.present_files()
    tables = {name: _scan_table(data.file(name), report) for name in names}
    for required in ("utt2spk", SPK2UTT):
        if required not in tables:
            report.error(data.file(required), "missing", f"{data.file(required)}: no such file")
    if "wav.scp" not in tables and "feats.scp" not in tables:
        report.error(data.file("wav.scp"), "missing", f"{data.path}: needs wav.scp or feats.scp")
    utt2spk = tables.get("utt2spk")
    if utt2spk is not None:
        if not utt2spk:
            report.error(data.file("utt2spk"), "empty", f"{data.file('utt2spk')}: no utterances")
        _check_speakers(data, tables, report)
        for name in names:
            if not is_per_utt_file(name) or name == "utt2spk":
                continue
            file_path = data.file(name)
            for key in sorted(set(utt2spk) - set(tables[name])):
                report.error(file_path, "missing key", f"{file_path}: key {key!r}: missing (listed in utt2spk)")
            for key in sorted(set(tables[name]) - set(utt2spk)):
                report.error(file_path, "extra key", f"{file_path}: key {key!r}: not in utt2spk")
        speakers = set(utt2spk.values())
        for name in data.per_spk_files():
            file_path = data.file(name)
            for key in sorted(set(tables[name]) - speakers):
                report.error(file_path, "extra key", f"{file_path}: key {key!r}: speaker not in utt2spk")
        report.num_utts, report.num_spks = len(utt2spk), len(speakers)
    _check_values(data, tables, report)
    if refuse_pipes:
        for name in SCP_FILES:
            file_path = data.file(name)
            for key, value in tables.get(name, {}).items():
                if runs_command(value):
                    report.error(file_path, "pipe", f"{file_path}: key {key!r}: a shell command ({value.strip()!r}) "
                                 "that reading it would run; refused (--no-pipes)")
    if check_entries:
        file_sizes = {}
        for name in SCP_FILES:
            file_path = data.file(name)
            for key, value in tables.get(name, {}).items():
                why = value and entry_problem(value, file_sizes)
                if why:
                    report.error(file_path, "unreadable entry", f"{file_path}: key {key!r}: {why}")
    return report
