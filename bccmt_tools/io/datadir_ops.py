"""Whole-directory operations on Kaldi data dirs: subset, fix, combine, split and filter.

The ``bccmt subset-data-dir``, ``fix-data-dir``, ``combine-data-dirs``, ``split-data-dir`` and
``filter-data-dir`` tools are thin wrappers around these functions. The fbank record
(:data:`~bccmt_tools.io.datadir.FBANK_RECORD`) goes wherever ``feats.scp`` goes.
"""

from __future__ import annotations

import math
from pathlib import Path

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write
from bccmt_tools.io.datadir import (
    FBANK_RECORD,
    SPK2UTT,
    DataDir,
    is_per_spk_file,
    is_per_utt_file,
    numbered_lines,
    parse_num_frames,
    read_kv,
    read_spk2utt,
    read_utt2spk,
    split_kv_line,
    spk2utt_to_utt2spk,
    utt2spk_to_spk2utt,
    write_kv,
    write_spk2utt,
)

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


def fbank_record_text(data):
    """The text of ``data``'s fbank record (:data:`~bccmt_tools.io.datadir.FBANK_RECORD`), or None."""
    path = data.file(FBANK_RECORD)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _write_fbank_record(out, text):
    path = Path(out) / FBANK_RECORD
    if text is None:
        path.unlink(missing_ok=True)
        return
    with atomic_write(path) as handle:
        handle.write(text)


def write_data_dir(out, utt_tables, spk_tables=None, fbank_record=None):
    """Write tables into ``out`` with ``spk2utt`` made from ``utt2spk``, and restrict per-speaker
    tables to its speakers; ``fbank_record`` (text) is written with a ``feats.scp``. Data files (and
    a record) left in ``out`` from an earlier run are removed.

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
    _write_fbank_record(out, fbank_record if "feats.scp" in utt_tables else None)
    write_spk2utt(out / SPK2UTT, utt2spk_to_spk2utt(utt2spk))
    removed = []
    for entry in sorted(out.iterdir()):
        if entry.is_file() and is_data_file(entry.name) and entry.name not in written:
            entry.unlink()
            removed.append(entry.name)
    return DataDir(out), removed


def refuse_existing_output(out, overwrite=False):
    """A one-line error when ``out`` is already a data dir with utterances (its lists would be
    replaced) and ``overwrite`` is false; the error names the option that allows it. With
    ``overwrite``, the old data dir is first copied to ``OUT.backup`` (replacing an older backup).

    >>> import tempfile; out = Path(tempfile.mkdtemp()); _ = (out / "utt2spk").write_text("s1-a s1\\n")
    >>> refuse_existing_output(out, overwrite=True)
    >>> refuse_existing_output(out)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: ...: already a data dir (1 utterances): its lists would be replaced; give a new folder, or --overwrite to replace it
    """
    utt2spk = Path(out) / "utt2spk"
    if not utt2spk.is_file():
        return
    if overwrite:
        import shutil

        backup = Path(f"{Path(out)}.backup")
        if backup.exists():
            shutil.rmtree(backup)
        shutil.copytree(out, backup, symlinks=True)
        return
    count = sum(1 for line in utt2spk.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip())
    raise BccmtError(f"{out}: already a data dir ({count} utterances): its lists would be replaced; give a new "
                     "folder, or --overwrite to replace it")


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
    if not keep:
        what = "utterance" if utt_list is not None else "speaker"
        raise BccmtError(f"{data.path}: no {what} of the list is in the data dir: the subset would be empty "
                         f"(is it a list of {what} ids of this data dir?)")
    return sorted(keep), unknown


def subset_data_dir(src, out, utts):
    """Write the data dir ``src`` restricted to ``utts`` into ``out``; returns ``(DataDir, removed)``."""
    data = src if isinstance(src, DataDir) else DataDir(src)
    _check_output_folder(data.path, out)
    utt_tables, spk_tables = load_tables(data)
    keep = set(utts)
    return write_data_dir(out, {name: _restrict(t, keep) for name, t in utt_tables.items()}, spk_tables,
                          fbank_record_text(data))


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


def next_backup_folder(path):
    """``path/.backup`` when free, else ``.backup.1``, ``.backup.2``, ...: an earlier backup is
    never overwritten (a second fix would otherwise replace the originals with fixed files).

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> next_backup_folder(folder).name
    '.backup'
    >>> (folder / ".backup").mkdir(); next_backup_folder(folder).name
    '.backup.1'
    """
    path = Path(path)
    candidate, number = path / ".backup", 0
    while candidate.exists():
        number += 1
        candidate = path / f".backup.{number}"
    return candidate


def fix_data_dir(path):
    """Sort every file, keep only utterances present (and valid) in every per-utterance file,
    rewrite ``spk2utt`` from ``utt2spk``, restrict ``spk2*`` files; originals go to a new backup
    folder (``path/.backup/``, then ``.backup.1/``, ...; see :func:`next_backup_folder`).

    A data dir with neither ``wav.scp`` nor ``feats.scp``, or one that fixing would leave without
    utterances, is an error and is left unchanged.
    """
    import shutil

    data = DataDir(path)
    _reject_segments(data)
    if not (data.has("wav.scp") or data.has("feats.scp")):
        raise BccmtError(f"{data.path}: no wav.scp or feats.scp: nothing to check the utterances against "
                         "(a data dir needs one of them); nothing changed")
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
    if not keep:
        worst = max(reasons.items(), key=lambda item: item[1])[0] if reasons else "no utterances in utt2spk"
        raise BccmtError(f"{data.path}: fixing would leave no utterances (all {len(universe)} dropped; most often: "
                         f"{worst}); nothing changed (check the files named)")

    backup = next_backup_folder(data.path)
    backup.mkdir()
    for name in data.present_files():
        shutil.copy2(data.file(name), backup / name)
    spk_tables = {name: _read_kv_lenient(data.file(name))[0] for name in data.per_spk_files()}
    fixed, _removed = write_data_dir(data.path, {n: _restrict(t, keep) for n, t in tables.items()}, spk_tables,
                                     fbank_record_text(data))
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
    record, lacking = _common_fbank_record(datas) if "feats.scp" in utt_tables else (None, [])
    if lacking:
        left_out[FBANK_RECORD] = lacking
    combined, _removed = write_data_dir(out, utt_tables, spk_tables, record)
    return combined, left_out


def _common_fbank_record(datas):
    """``(text, lacking)``: the fbank record the ``datas`` that have one share (None when none has
    one) and the paths of those without one (older data dirs: the record is then left out, like any
    file some inputs lack). Records that differ are an error: those feats.scp do not mix."""
    from bccmt_tools.io.yaml_io import read_yaml_mapping

    texts = [fbank_record_text(data) for data in datas]
    having = [data for data, text in zip(datas, texts) if text is not None]
    lacking = [str(data.path) for data, text in zip(datas, texts) if text is None]
    if not having:
        return None, []
    first = having[0]
    options = read_yaml_mapping(first.file(FBANK_RECORD), what="fbank options")
    for data in having[1:]:
        other = read_yaml_mapping(data.file(FBANK_RECORD), what="fbank options")
        differing = [key for key in list(options) + [k for k in other if k not in options]
                     if options.get(key) != other.get(key)]
        if differing:
            key = differing[0]
            raise BccmtError(f"{data.file(FBANK_RECORD)}: key {key!r}: {other.get(key)!r}, but "
                             f"{first.file(FBANK_RECORD)} says {options.get(key)!r}: their feats.scp were computed "
                             f"with other fbank options and cannot be combined; recompute one of them")
    return (None if lacking else texts[datas.index(first)]), lacking


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


#: Beside the job folders of a split: a digest of the source files it was made from.
SPLIT_DIGEST = ".source_digest"


def _source_digest(data, names):
    """SHA-1 of the names and contents of the data dir's files (what a split depends on)."""
    import hashlib

    digest = hashlib.sha1()
    for name in names:
        digest.update(name.encode("utf-8") + b"\0")
        with open(data.file(name), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _split_is_current(data, root, nj, names):
    """True when ``root`` holds ``nj`` complete jobs made from the sources as they are now (by
    content: a source restored with an older time stamp, ``cp -p``, is still seen as changed)."""
    recorded = root / SPLIT_DIGEST
    if not recorded.is_file() or recorded.read_text(encoding="utf-8").strip() != _source_digest(data, names):
        return False
    for job in range(1, nj + 1):
        job_dir = root / str(job)
        if not job_dir.is_dir():
            return False
        job_files = {entry.name for entry in job_dir.iterdir() if entry.is_file() and is_data_file(entry.name)}
        if job_files != set(names):
            return False
    return True


def split_data_dir(path, nj, by="utt", force=False):
    """Split a data dir into ``nj`` parts under ``path/split<nj>/<j>/`` (``by="utt"``: contiguous
    sorted chunks with counts differing by at most one) or ``path/split<nj>spk/<j>/`` (``by="spk"``:
    whole speakers, utterance counts balanced).

    An existing split made from the same source contents is kept unless ``force``. Returns
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
        write_data_dir(job_dir, {name: _restrict(t, keep) for name, t in utt_tables.items()}, spk_tables,
                       fbank_record_text(data))
    with atomic_write(root / SPLIT_DIGEST) as handle:
        handle.write(_source_digest(data, names) + "\n")
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
    filtered, _ = write_data_dir(out, {name: _restrict(t, keep) for name, t in utt_tables.items()}, spk_tables,
                                 fbank_record_text(data))
    return filtered, removed

