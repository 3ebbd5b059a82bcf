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

Whole-directory operations follow the I/O layer below: ``validate_data_dir``, ``fix_data_dir``,
``subset_data_dir``, ``combine_data_dirs``, ``split_data_dir`` and ``filter_data_dir`` (the
``bccmt *-data-dir`` tools are thin wrappers around them).
"""

from __future__ import annotations

import math
import os
import re
import shlex
from pathlib import Path

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write

#: Per-utterance tables we know by name; any other ``utt2*`` file in a data dir is per-utterance too.
PER_UTT_FILES = ("wav.scp", "utt2spk", "feats.scp", "utt2num_frames", "utt2dur", "vad.scp")
#: ``spk2utt`` is derived from ``utt2spk``; other ``spk2*`` files (``spk2gender``) are per-speaker.
SPK2UTT = "spk2utt"


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


# --------------------------------------------------------------------------------------------
# Whole-directory operations: subset, fix, combine, split, filter.


def is_data_file(name):
    return is_per_utt_file(name) or name == SPK2UTT or is_per_spk_file(name)


def _reject_segments(data):
    if data.has("segments"):
        raise BccmtError(f"{data.file('segments')}: data dirs with segments are not supported "
                         "(wav.scp must be keyed by utterance id)")


def _same_folder(a, b):
    return Path(a).resolve() == Path(b).resolve()


def _restrict(table, keys):
    return {key: value for key, value in table.items() if key in keys}


def load_tables(data):
    """Raw ``(per-utt tables, per-spk tables)`` of a data dir (values kept verbatim)."""
    _reject_segments(data)
    names = data.per_utt_files()
    if "utt2spk" not in names:
        raise BccmtError(f"{data.file('utt2spk')}: no such file (every data dir needs one)")
    utt_tables = {name: (read_utt2spk if name == "utt2spk" else read_kv)(data.file(name)) for name in names}
    spk_tables = {name: read_kv(data.file(name)) for name in data.per_spk_files()}
    return utt_tables, spk_tables


def write_data_dir(out, utt_tables, spk_tables=None):
    """Write tables into ``out`` with ``spk2utt`` made from ``utt2spk``, and restrict per-speaker
    tables to its speakers. Data files left in ``out`` from an earlier run are removed.

    Returns ``(DataDir, removed_file_names)``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # spk2utt goes first and comes back last: a dir whose writing was cut short fails validation.
    (out / SPK2UTT).unlink(missing_ok=True)
    utt2spk = utt_tables["utt2spk"]
    speakers = set(utt2spk.values())
    written = {SPK2UTT}
    for name, table in utt_tables.items():
        write_kv(out / name, table)
        written.add(name)
    for name, table in (spk_tables or {}).items():
        write_kv(out / name, _restrict(table, speakers))
        written.add(name)
    write_spk2utt(out / SPK2UTT, utt2spk_to_spk2utt(utt2spk))
    removed = []
    for entry in sorted(out.iterdir()):
        if entry.is_file() and is_data_file(entry.name) and entry.name not in written:
            entry.unlink()
            removed.append(entry.name)
    return DataDir(out), removed


def _check_output_folder(src, out):
    if _same_folder(src, out):
        raise BccmtError(f"{out}: the output data dir must differ from the input {src}")


def select_utterances(data, utt_list=None, spk_list=None, first=None, random=None, seed=0, per_spk=None):
    """Pick utterances by exactly one criterion; returns ``(sorted utts, number of unknown list ids)``.

    ``first``: the first N in sorted order; ``random``: N drawn with ``seed``; ``per_spk``: the
    first N (sorted) of every speaker; ``utt_list``/``spk_list``: ids to keep.
    """
    import random as random_module

    criteria = {"utt_list": utt_list, "spk_list": spk_list, "first": first, "random": random, "per_spk": per_spk}
    given = [name for name, value in criteria.items() if value is not None]
    if len(given) != 1:
        flags = ", ".join("--" + name.replace("_", "-") for name in given) or "none"
        raise BccmtError(f"give exactly one of --utt-list, --spk-list, --first, --random, --per-spk (got {flags})")
    utt2spk = data.require("utt2spk")
    utts = sorted(utt2spk)
    unknown = 0
    if utt_list is not None:
        wanted = set(utt_list)
        keep = [utt for utt in utts if utt in wanted]
        unknown = len(wanted - set(utt2spk))
    elif spk_list is not None:
        wanted = set(spk_list)
        keep = [utt for utt in utts if utt2spk[utt] in wanted]
        unknown = len(wanted - set(utt2spk.values()))
    elif per_spk is not None:
        if per_spk < 1:
            raise BccmtError(f"--per-spk must be at least 1, got {per_spk}")
        keep = [utt for spk_utts in utt2spk_to_spk2utt(utt2spk).values() for utt in spk_utts[:per_spk]]
    else:
        count = first if first is not None else random
        if not 1 <= count <= len(utts):
            raise BccmtError(f"{data.path}: asked for {count} utterances, the data dir has {len(utts)}")
        keep = utts[:count] if first is not None else random_module.Random(seed).sample(utts, count)
    return sorted(keep), unknown


def subset_data_dir(src, out, utts):
    """Write the data dir ``src`` restricted to ``utts`` into ``out``; returns ``(DataDir, removed)``."""
    data = src if isinstance(src, DataDir) else DataDir(src)
    _check_output_folder(data.path, out)
    utt_tables, spk_tables = load_tables(data)
    keep = set(utts)
    return write_data_dir(out, {name: _restrict(t, keep) for name, t in utt_tables.items()}, spk_tables)


def _read_kv_lenient(path):
    """``(table, bad)``: keys with no value or repeated with another value go to ``bad`` (key -> why).

    Repeats with the same value are merged silently; this is what fix-data-dir can repair.
    """
    table, bad = {}, {}
    for _number, line in numbered_lines(path):
        key, value = split_kv_line(line)
        if key is None:
            continue
        if not value:
            bad[key] = "no value"
        elif key in table and table[key] != value:
            bad[key] = "duplicate key with different values"
        else:
            table.setdefault(key, value)
    for key in bad:
        table.pop(key, None)
    return table, bad


def _value_problem(name, value):
    """Why a per-utterance value is unusable (None when fine)."""
    if name == "utt2spk" and len(value.split()) != 1:
        return "speaker id with spaces"
    if name == "utt2num_frames":
        return None if value.isdigit() and int(value) > 0 else "not a positive integer"
    if name == "utt2dur":
        try:
            return None if math.isfinite(float(value)) and float(value) > 0 else "not a positive duration"
        except ValueError:
            return "not a number"
    return None


class FixReport:
    """What fix-data-dir dropped: ``dropped`` maps a reason to a number of utterances."""

    def __init__(self, kept_utts, kept_spks, dropped, num_dropped_utts, num_dropped_spks, backup):
        self.kept_utts, self.kept_spks = kept_utts, kept_spks
        self.dropped, self.num_dropped_utts, self.num_dropped_spks = dropped, num_dropped_utts, num_dropped_spks
        self.backup = backup

    def lines(self):
        total_utts, total_spks = self.kept_utts + self.num_dropped_utts, self.kept_spks + self.num_dropped_spks
        lines = [f"kept {self.kept_utts} of {total_utts} utterances, {self.kept_spks} of {total_spks} speakers"]
        if self.num_dropped_utts:
            lines.append(f"dropped {self.num_dropped_utts} utterances:")
            lines += [f"  {count} {reason}" for reason, count in self.dropped.items()]
        if self.num_dropped_spks:
            lines.append(f"dropped {self.num_dropped_spks} speakers (no utterances left)")
        lines.append(f"originals backed up in {self.backup}")
        return lines


def fix_data_dir(path):
    """Sort every file, keep only utterances present (and valid) in every per-utterance file,
    rewrite ``spk2utt`` from ``utt2spk``, restrict ``spk2*`` files; originals go to ``path/.backup/``.
    """
    import shutil

    data = DataDir(path)
    _reject_segments(data)
    names = data.per_utt_files()
    tables, bad_by_file = {}, {}
    for name in names:
        table, bad = _read_kv_lenient(data.file(name))
        for key, value in list(table.items()):
            why = _value_problem(name, value)
            if why:
                bad[key] = why
                del table[key]
        tables[name], bad_by_file[name] = table, bad
    old_spks = set()
    if data.has(SPK2UTT):
        old_spks = set(_read_kv_lenient(data.file(SPK2UTT))[0])
    if "utt2spk" not in tables:
        if not data.has(SPK2UTT):
            raise BccmtError(f"{data.path}: needs utt2spk (or spk2utt to make it from)")
        tables["utt2spk"], bad_by_file["utt2spk"] = spk2utt_to_utt2spk(read_spk2utt(data.file(SPK2UTT))), {}
        names.append("utt2spk")
    old_spks |= set(tables["utt2spk"].values())

    universe = set().union(*(set(t) | set(bad_by_file[n]) for n, t in tables.items()))
    reasons, dropped = {}, set()
    for utt in sorted(universe):
        whys = [f"{bad_by_file[n][utt]} in {n}" for n in names if utt in bad_by_file[n]]
        whys += [f"missing from {n}" for n in names if utt not in tables[n] and utt not in bad_by_file[n]]
        for why in whys:
            reasons[why] = reasons.get(why, 0) + 1
        if whys:
            dropped.add(utt)
    keep = universe - dropped

    backup = data.path / ".backup"
    backup.mkdir(exist_ok=True)
    for name in data.present_files():
        shutil.copy2(data.file(name), backup / name)
    spk_tables = {name: _read_kv_lenient(data.file(name))[0] for name in data.per_spk_files()}
    fixed, _removed = write_data_dir(data.path, {n: _restrict(t, keep) for n, t in tables.items()}, spk_tables)
    kept_spks = len(set(fixed.utt2spk.values()))
    return FixReport(len(keep), kept_spks, dict(sorted(reasons.items())), len(dropped),
                     len(old_spks) - kept_spks, backup)


def combine_data_dirs(out, inputs):
    """Combine data dirs into ``out``. Files present in some inputs only are left out.

    Returns ``(DataDir, left_out)`` where ``left_out`` maps a file name to the inputs lacking it.
    A key present in two inputs is an error naming both.
    """
    if not inputs:
        raise BccmtError("combine-data-dirs: give at least one input data dir")
    datas = [DataDir(path) for path in inputs]
    for data in datas:
        _check_output_folder(data.path, out)
    present = [set(data.per_utt_files()) | set(data.per_spk_files()) for data in datas]
    every, some = set.intersection(*present), set.union(*present)
    left_out = {name: [str(d.path) for d, names in zip(datas, present) if name not in names]
                for name in sorted(some - every)}
    if "utt2spk" in left_out:
        raise BccmtError(f"{left_out['utt2spk'][0]}/utt2spk: no such file (every data dir needs one)")
    loaded = [load_tables(data) for data in datas]
    utt_tables, spk_tables = {}, {}
    for name in ["utt2spk"] + sorted(every - {"utt2spk"}):
        merged, origin = {}, {}
        for data, (data_utt_tables, data_spk_tables) in zip(datas, loaded):
            table = (data_utt_tables if is_per_utt_file(name) else data_spk_tables)[name]
            for key, value in table.items():
                if key in merged and (is_per_utt_file(name) or merged[key] != value):
                    raise BccmtError(f"{name}: key {key!r}: in both {origin[key]} and {data.path}")
                merged[key], origin[key] = value, data.path
        (utt_tables if is_per_utt_file(name) else spk_tables)[name] = merged
    combined, _removed = write_data_dir(out, utt_tables, spk_tables)
    return combined, left_out


def balanced_cuts(counts, parts):
    """Cut a sequence of sizes into ``parts`` contiguous non-empty groups of near-equal total.

    Returns ``[(start, end), ...]`` index ranges.

    >>> balanced_cuts([1, 1, 1, 1, 1], 2)
    [(0, 3), (3, 5)]
    >>> balanced_cuts([5, 1, 1, 1, 1, 1], 2)
    [(0, 1), (1, 6)]
    """
    import bisect
    import itertools

    if not 1 <= parts <= len(counts):
        raise ValueError(f"cannot cut {len(counts)} items into {parts} non-empty groups")
    cumulative = list(itertools.accumulate(counts))  # cumulative[b - 1] = total of items before cut b
    total = cumulative[-1]
    cuts = [0]
    for j in range(1, parts):
        lowest, highest = cuts[-1] + 1, len(counts) - (parts - j)
        target = total * j / parts
        near = bisect.bisect_left(cumulative, target) + 1
        candidates = {min(max(b, lowest), highest) for b in (near - 1, near, near + 1)}
        cuts.append(min(candidates, key=lambda b: (abs(cumulative[b - 1] - target), -b)))
    cuts.append(len(counts))
    return list(zip(cuts[:-1], cuts[1:]))


def split_folder(data_path, nj, by):
    return Path(data_path) / (f"split{nj}" if by == "utt" else f"split{nj}spk")


def _split_is_current(data, root, nj, names):
    newest_source = max(data.file(name).stat().st_mtime_ns for name in names)
    for job in range(1, nj + 1):
        job_dir = root / str(job)
        if not job_dir.is_dir():
            return False
        job_files = {entry.name for entry in job_dir.iterdir() if entry.is_file() and is_data_file(entry.name)}
        if job_files != set(names):
            return False
        if any((job_dir / name).stat().st_mtime_ns < newest_source for name in names):
            return False
    return True


def split_data_dir(path, nj, by="utt", force=False):
    """Split a data dir into ``nj`` parts under ``path/split<nj>/<j>/`` (``by="utt"``: contiguous
    sorted chunks with counts differing by at most one) or ``path/split<nj>spk/<j>/`` (``by="spk"``:
    whole speakers, utterance counts balanced).

    An existing split newer than every source file is kept unless ``force``. Returns
    ``(job_dirs, reused)``.
    """
    if by not in ("utt", "spk"):
        raise BccmtError(f"split-data-dir: --by must be 'utt' or 'spk', got {by!r}")
    if nj < 1:
        raise BccmtError(f"split-data-dir: --nj must be at least 1, got {nj}")
    data = DataDir(path)
    _reject_segments(data)
    root = split_folder(data.path, nj, by)
    names = data.present_files()
    job_dirs = [root / str(job) for job in range(1, nj + 1)]
    if not force and root.is_dir() and "utt2spk" in names and _split_is_current(data, root, nj, names):
        return job_dirs, True
    utt_tables, spk_tables = load_tables(data)
    spk2utt = utt2spk_to_spk2utt(utt_tables["utt2spk"])
    if by == "utt":
        units = [[utt] for utt in sorted(utt_tables["utt2spk"])]
    else:
        units = list(spk2utt.values())
    if nj > len(units):
        kind = "utterances" if by == "utt" else "speakers"
        raise BccmtError(f"{data.path}: cannot split {len(units)} {kind} into {nj} non-empty jobs")
    for job_dir, (start, end) in zip(job_dirs, balanced_cuts([len(unit) for unit in units], nj)):
        keep = {utt for unit in units[start:end] for utt in unit}
        write_data_dir(job_dir, {name: _restrict(t, keep) for name, t in utt_tables.items()}, spk_tables)
    return job_dirs, False


def filter_data_dir(src, out, min_frames=None, max_frames=None, min_utts_per_spk=None):
    """Drop utterances outside ``[min_frames, max_frames]`` (needs ``utt2num_frames``), then speakers
    with fewer than ``min_utts_per_spk`` utterances left; write the rest to ``out``.

    Returns ``(DataDir, removed)`` where ``removed`` maps a reason to a number of utterances.
    """
    data = src if isinstance(src, DataDir) else DataDir(src)
    _check_output_folder(data.path, out)
    utt_tables, spk_tables = load_tables(data)
    utt2spk = utt_tables["utt2spk"]
    keep = set(utt2spk)
    removed = {}
    if min_frames is not None or max_frames is not None:
        if "utt2num_frames" not in utt_tables:
            raise BccmtError(f"{data.file('utt2num_frames')}: no such file (frame filters need it)")
        frames_path = data.file("utt2num_frames")
        frames = {k: parse_num_frames(frames_path, k, v) for k, v in utt_tables["utt2num_frames"].items()}
        missing = sorted(keep - set(frames))
        if missing:
            raise BccmtError(f"{frames_path}: key {missing[0]!r}: missing (listed in utt2spk; "
                             "run bccmt fix-data-dir)")
        for bound, too_far, reason in ((min_frames, lambda n, b: n < b, "shorter than {} frames"),
                                       (max_frames, lambda n, b: n > b, "longer than {} frames")):
            if bound is not None:
                dropped = {utt for utt in keep if too_far(frames[utt], bound)}
                removed[reason.format(bound)] = len(dropped)
                keep -= dropped
    if min_utts_per_spk is not None:
        per_spk = {}
        for utt in keep:
            per_spk.setdefault(utt2spk[utt], []).append(utt)
        small = [utts for utts in per_spk.values() if len(utts) < min_utts_per_spk]
        dropped = {utt for utts in small for utt in utts}
        removed[f"from {len(small)} speakers with fewer than {min_utts_per_spk} utterances"] = len(dropped)
        keep -= dropped
    if not keep:
        raise BccmtError(f"{data.path}: no utterance is left after filtering; nothing written to {out}")
    filtered, _ = write_data_dir(out, {name: _restrict(t, keep) for name, t in utt_tables.items()}, spk_tables)
    return filtered, removed


# --------------------------------------------------------------------------------------------
# Validation: find every problem, each naming its file and key.

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


def validate_data_dir(path, check_entries=True):
    """Check a data dir and return a ValidationReport listing every problem found.

    Checks: required files, C-sorted unique keys, ``utt2spk``/``spk2utt`` agreement, equal key
    sets in the per-utterance files, positive ``utt2num_frames``/``utt2dur``, and (unless
    ``check_entries`` is False) that ``wav.scp``/``feats.scp`` entries point at existing files.
    Utterance ids not prefixed by their speaker id are warnings.
    """
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
    if check_entries:
        file_sizes = {}
        for name in SCP_FILES:
            file_path = data.file(name)
            for key, value in tables.get(name, {}).items():
                why = value and entry_problem(value, file_sizes)
                if why:
                    report.error(file_path, "unreadable entry", f"{file_path}: key {key!r}: {why}")
    return report
