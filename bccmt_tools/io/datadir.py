"""Kaldi data directories: ``wav.scp``, ``utt2spk``, ``spk2utt``, ``feats.scp``, ``utt2num_frames``, ...

A data dir is a folder of text tables, one ``key value...`` line per entry, keyed by utterance id
(by speaker id for ``spk2utt`` and ``spk2*``), sorted by key in C byte order (``LC_ALL=C sort``).
Python compares ``str`` by code point, which orders UTF-8 text exactly as bytes, so ``sorted()``
gives the C order: uppercase before lowercase, ``-`` before digits.

>>> write_kv("/tmp/bccmt-doc-dd/utt2spk", {"spkb-u1": "spkb", "spkA-u2": "spkA"})
>>> read_kv("/tmp/bccmt-doc-dd/utt2spk")
{'spkA-u2': 'spkA', 'spkb-u1': 'spkb'}
>>> DataDir("/tmp/bccmt-doc-dd").spk2utt is None  # absent files read as None
True

Whole-directory operations live in ``datadir_ops`` (subset, fix, combine, split, filter) and
``datadir_validate`` (``validate_data_dir``); the ``bccmt *-data-dir`` tools wrap them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write

#: Per-utterance tables we know by name; any other ``utt2*`` file in a data dir is per-utterance too.
PER_UTT_FILES = ("wav.scp", "utt2spk", "feats.scp", "utt2num_frames", "utt2dur", "vad.scp")
#: ``spk2utt`` is derived from ``utt2spk``; other ``spk2*`` files (``spk2gender``) are per-speaker.
SPK2UTT = "spk2utt"
#: The fbank options ``feats.scp`` was computed with (written by ``bccmt compute-fbank
#: --write-config``; read by :mod:`bccmt_tools.features.record`); it goes wherever feats.scp goes.
FBANK_RECORD = "conf/fbank.yaml"


def numbered_lines(path):
    """Yield ``(line_number, line)`` of a text file, newline stripped; errors name the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                yield number, line.rstrip("\r\n")
    except FileNotFoundError:
        raise BccmtError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise BccmtError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise BccmtError(f"{path}: cannot read: {exc.strerror or exc}") from None


def split_kv_line(line):
    """``"key  a b "`` -> ``("key", "a b")``; the value is ``""`` when the line has only a key."""
    parts = line.strip().split(None, 1)
    if not parts:
        return None, ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def read_kv(path):
    """Read ``key value...`` lines into a dict (file order kept); blank lines are skipped.

    A line without a value or a repeated key is a BccmtError naming ``file:line`` and the key.
    """
    table, first_seen = {}, {}
    for number, line in numbered_lines(path):
        key, value = split_kv_line(line)
        if key is None:
            continue
        if not value:
            raise BccmtError(f"{path}:{number}: key {key!r}: no value")
        if key in table:
            raise BccmtError(f"{path}:{number}: key {key!r}: duplicate key (first on line {first_seen[key]})")
        table[key] = value
        first_seen[key] = number
    return table


def _value_text(path, key, value):
    text = " ".join(str(item) for item in value) if isinstance(value, (list, tuple)) else str(value)
    if not text.strip() or "\n" in text:
        raise BccmtError(f"{path}: key {key!r}: value must be non-empty and on one line, got {text!r}")
    return text


def check_key(path, key):
    """Keys are non-empty and contain no whitespace (Kaldi splits lines on it)."""
    if not isinstance(key, str) or not key or any(ch.isspace() for ch in key):
        raise BccmtError(f"{path}: invalid key {key!r} (keys must be non-empty, without whitespace)")


def write_kv(path, mapping):
    """Write ``key value`` lines sorted in C byte order, atomically. List values are space-joined."""
    lines = []
    for key in sorted(mapping):
        check_key(path, key)
        lines.append(f"{key} {_value_text(path, key, mapping[key])}\n")
    with atomic_write(path) as handle:
        handle.writelines(lines)


def read_utt2spk(path):
    """``utt2spk`` as ``{utt: spk}``; a speaker field with spaces is an error."""
    table = read_kv(path)
    for utt, spk in table.items():
        if len(spk.split()) != 1:
            raise BccmtError(f"{path}: key {utt!r}: expected one speaker id, got {spk!r}")
    return table


def read_spk2utt(path):
    """``spk2utt`` as ``{spk: [utt, ...]}``; an utterance listed twice is an error."""
    spk2utt, owner = {}, {}
    for spk, value in read_kv(path).items():
        utts = value.split()
        for utt in utts:
            if utt in owner:
                raise BccmtError(f"{path}: key {spk!r}: utterance {utt!r} is also listed under {owner[utt]!r}")
            owner[utt] = spk
        spk2utt[spk] = utts
    return spk2utt


def write_spk2utt(path, spk2utt):
    """Write ``spk2utt`` with speakers and each speaker's utterances in C order."""
    write_kv(path, {spk: sorted(utts) for spk, utts in spk2utt.items()})


def utt2spk_to_spk2utt(utt2spk):
    """``{utt: spk}`` -> ``{spk: [utts]}``, speakers and utterances sorted.

    >>> utt2spk_to_spk2utt({"b-2": "b", "a-1": "a", "b-1": "b"})
    {'a': ['a-1'], 'b': ['b-1', 'b-2']}
    """
    spk2utt = {}
    for utt in sorted(utt2spk):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return {spk: spk2utt[spk] for spk in sorted(spk2utt)}


def spk2utt_to_utt2spk(spk2utt):
    """``{spk: [utts]}`` -> ``{utt: spk}`` sorted by utterance; an utterance under two speakers is an error."""
    utt2spk = {}
    for spk, utts in spk2utt.items():
        for utt in utts:
            if utt in utt2spk and utt2spk[utt] != spk:
                raise BccmtError(f"spk2utt: key {spk!r}: utterance {utt!r} is also listed under {utt2spk[utt]!r}")
            utt2spk[utt] = spk
    return {utt: utt2spk[utt] for utt in sorted(utt2spk)}


def parse_num_frames(path, key, value):
    """A non-negative integer frame count, or a BccmtError naming file and key."""
    try:
        frames = int(value)
    except ValueError:
        raise BccmtError(f"{path}: key {key!r}: frame count must be an integer, got {value!r}") from None
    if frames < 0:
        raise BccmtError(f"{path}: key {key!r}: negative frame count {frames}")
    return frames


def parse_duration(path, key, value):
    """A finite non-negative duration in seconds, or a BccmtError naming file and key."""
    try:
        seconds = float(value)
    except ValueError:
        raise BccmtError(f"{path}: key {key!r}: duration must be a number, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise BccmtError(f"{path}: key {key!r}: invalid duration {value!r}")
    return seconds


def read_utt2num_frames(path):
    """``utt2num_frames`` as ``{utt: int}``."""
    return {key: parse_num_frames(path, key, value) for key, value in read_kv(path).items()}


def read_utt2dur(path):
    """``utt2dur`` as ``{utt: float seconds}``."""
    return {key: parse_duration(path, key, value) for key, value in read_kv(path).items()}


_READERS = {
    "utt2spk": read_utt2spk,
    "spk2utt": read_spk2utt,
    "utt2num_frames": read_utt2num_frames,
    "utt2dur": read_utt2dur,
}


_EXTRA_TABLE_NAME = re.compile(r"^(utt2|spk2)[A-Za-z0-9_]+$")


def is_per_utt_file(name):
    """Known per-utterance tables, and any ``utt2<word>`` table (``utt2lang``, ``utt2warp``)."""
    return name in PER_UTT_FILES or (name.startswith("utt2") and bool(_EXTRA_TABLE_NAME.match(name)))


def is_per_spk_file(name):
    """``spk2<word>`` tables other than ``spk2utt`` (``spk2gender``)."""
    return name != SPK2UTT and name.startswith("spk2") and bool(_EXTRA_TABLE_NAME.match(name))


def file_name_for(argument):
    """Keyword name -> file name: ``wav_scp`` -> ``wav.scp``, ``utt2spk`` -> ``utt2spk``."""
    return argument[: -len("_scp")] + ".scp" if argument.endswith("_scp") else argument


class DataDir:
    """A Kaldi data directory with lazily read, cached tables (``None`` when a file is absent).

    >>> data = DataDir.write("/tmp/bccmt-doc-dd2", wav_scp={"s1-a": "/x/a.wav"}, utt2spk={"s1-a": "s1"})
    >>> data.spk2utt  # written from utt2spk because it was not given
    {'s1': ['s1-a']}
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise BccmtError(f"{self.path}: not a data directory (no such folder)")
        self._cache = {}

    def __repr__(self):
        return f"DataDir({str(self.path)!r})"

    def file(self, name):
        return self.path / name

    def has(self, name):
        return self.file(name).is_file()

    def read(self, name):
        """The table ``name`` read with its typed reader (``read_kv`` for unknown names), or None."""
        if name not in self._cache:
            path = self.file(name)
            self._cache[name] = _READERS.get(name, read_kv)(path) if path.is_file() else None
        return self._cache[name]

    wav_scp = property(lambda self: self.read("wav.scp"), doc="``{utt: wav.scp entry}`` or None")
    utt2spk = property(lambda self: self.read("utt2spk"), doc="``{utt: spk}`` or None")
    spk2utt = property(lambda self: self.read("spk2utt"), doc="``{spk: [utts]}`` or None")
    feats_scp = property(lambda self: self.read("feats.scp"), doc="``{utt: ark:offset}`` or None")
    utt2num_frames = property(lambda self: self.read("utt2num_frames"), doc="``{utt: int}`` or None")
    utt2dur = property(lambda self: self.read("utt2dur"), doc="``{utt: float}`` or None")

    def require(self, name):
        """Like ``read`` but a missing file is an error."""
        table = self.read(name)
        if table is None:
            raise BccmtError(f"{self.file(name)}: no such file")
        return table

    @property
    def utts(self):
        """Utterance ids (sorted) from ``utt2spk``."""
        return sorted(self.require("utt2spk"))

    @property
    def spks(self):
        """Speaker ids (sorted) from ``utt2spk``."""
        return sorted(set(self.require("utt2spk").values()))

    def present_files(self):
        """Names of the data files present: per-utterance ones (known order first), then ``spk2*``."""
        names = [entry.name for entry in self.path.iterdir() if entry.is_file()]
        known = [name for name in PER_UTT_FILES if name in names]
        extra_utt = sorted(name for name in names if is_per_utt_file(name) and name not in known)
        per_spk = sorted(name for name in names if name == SPK2UTT or is_per_spk_file(name))
        return known + extra_utt + per_spk

    def per_utt_files(self):
        return [name for name in self.present_files() if is_per_utt_file(name)]

    def per_spk_files(self):
        return [name for name in self.present_files() if is_per_spk_file(name)]

    @staticmethod
    def write(path, **files):
        """Write tables into the folder ``path`` (created if needed) and return its DataDir.

        Keywords name files (``wav_scp`` -> ``wav.scp``); values are dicts. ``spk2utt`` is
        written from ``utt2spk`` unless given. Each file is written atomically.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if "utt2spk" in files and "spk2utt" not in files:
            files["spk2utt"] = utt2spk_to_spk2utt(files["utt2spk"])
        for argument, table in files.items():
            name = file_name_for(argument)
            if name == SPK2UTT:
                write_spk2utt(path / name, table)
            else:
                write_kv(path / name, table)
        return DataDir(path)


def read_id_list(path):
    """The first field of every non-blank line (an utterance or speaker list)."""
    ids = []
    for _number, line in numbered_lines(path):
        key, _value = split_kv_line(line)
        if key is not None:
            ids.append(key)
    return ids
