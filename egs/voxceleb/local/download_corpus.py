#!/usr/bin/env python3
"""Stage 0: download a corpus archive (.tar.gz, .tgz, .tar or .zip), check its SHA-256, extract it safely.

Usage: local/download_corpus.py --url URL --sha256 HEX --dest DIR [--expect NAME] [--keep-archive]

The archive streams to DIR/.NAME.part (progress on stderr) while it is hashed; a checksum mismatch
deletes it and stops. A verified archive is renamed to DIR/NAME, extracted into a temporary
folder (members that would land outside it, absolute paths, links leaving it, alone or chained
through links extracted before them, and device files are refused; no Python version's tarfile
filter is needed for that) that is then renamed to DIR/extracted, and DIR/download.done records the URL, the
checksum and the data root. A later run with the same checksum finds the marker and does nothing;
a run killed midway starts over from the verified archive or from scratch.

The data root, printed alone on stdout, is DIR/extracted, or its single top-level folder when
the archive holds just one; with --expect NAME it is whichever of those two holds NAME.

Example:
  root=$(local/download_corpus.py --url https://example.org/minivox.tar.gz \\
           --sha256 3f1c...e9 --dest downloads --expect voxceleb1)
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from bccmt_tools.errors import BccmtError

MARKER = "download.done"
EXTRACTED = "extracted"
CHUNK_BYTES = 1 << 20


def log(message):
    print(f"download_corpus.py: {message}", file=sys.stderr, flush=True)


def archive_name(url):
    """The file name of the archive in ``url`` (``corpus.archive`` when the URL path has none)."""
    name = PurePosixPath(urllib.parse.urlparse(url).path).name
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return name or "corpus.archive"


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


class Progress:
    """Download progress on stderr: a line every few seconds (in place on a terminal)."""

    def __init__(self, total, interval=2.0):
        self.total = total
        self.interval = interval
        self.started = self.shown = time.monotonic()
        self.in_place = sys.stderr.isatty()

    def update(self, done, final=False):
        now = time.monotonic()
        if not final and now - self.shown < self.interval:
            return
        self.shown = now
        rate = done / max(now - self.started, 1e-6) / 1e6
        text = f"{done / 1e6:.1f} MB"
        if self.total:
            text += f" of {self.total / 1e6:.1f} MB ({100.0 * done / self.total:.0f}%)"
        text = f"download_corpus.py: downloaded {text}, {rate:.1f} MB/s"
        end = "\n" if final or not self.in_place else ""
        print(("\r" if self.in_place else "") + text, end=end, file=sys.stderr, flush=True)


#: A download that brings fewer than STALL_BYTES in STALL_SECONDS is stopped (a server that trickles
#: a byte every 20 s never hits the socket timeout).
STALL_SECONDS, STALL_BYTES = 120.0, 64 * 1024


def download(url, target, sha256, timeout=60.0):
    """Stream ``url`` to ``target`` through a temporary file, checking the SHA-256 on the way."""
    part = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            progress = Progress(total)
            window_start, window_done = time.monotonic(), 0
            # read1: whatever has arrived, so progress and the stall check see a slow server
            for block in iter(lambda: response.read1(CHUNK_BYTES), b""):
                out.write(block)
                digest.update(block)
                done += len(block)
                progress.update(done)
                if time.monotonic() - window_start >= STALL_SECONDS:
                    if done - window_done < STALL_BYTES:
                        raise BccmtError(f"{url}: the download stalled: {done - window_done} bytes in the last "
                                         f"{STALL_SECONDS:g} s ({done} in all); try again later or another mirror")
                    window_start, window_done = time.monotonic(), done
            progress.update(done, final=True)
        if total and done != total:
            raise BccmtError(f"{url}: download ended after {done} of {total} bytes")
        got = digest.hexdigest()
        if got != sha256:
            raise BccmtError(f"{url}: SHA-256 mismatch: expected {sha256}, got {got} "
                             f"(the downloaded file was deleted)")
        os.replace(part, target)
    except (urllib.error.URLError, OSError) as error:
        part.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP {error.code} {reason}"
        raise BccmtError(f"{url}: download failed: {reason}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def safe_member_path(root, name, archive):
    """``root/name`` resolved; an error when ``name`` is absolute or would land outside ``root``."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise BccmtError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if ".." in re.split(r"[/\\]", name):
        raise BccmtError(f"{archive}: member {name!r} climbs out with '..'; refusing to extract")
    path = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, path]) != root:
        raise BccmtError(f"{archive}: member {name!r} would be extracted outside {root}; refusing to extract")
    return path


def check_tar_member(member, root, archive):
    """Refuse a member that lands, or links, outside ``root``. Paths are resolved (``realpath``)
    against what is on disk, so run it again just before extracting each member: links made by
    earlier members are then followed, which catches chains of links that each stay inside on
    their own but lead outside together."""
    path = safe_member_path(root, member.name, archive)
    if member.issym() or member.islnk():
        # Symlink targets are relative to the link's folder, hard-link targets to the archive root.
        base = os.path.dirname(path) if member.issym() else root
        target = os.path.realpath(os.path.join(base, member.linkname))
        if member.linkname.startswith("/") or os.path.commonpath([root, target]) != root:
            raise BccmtError(f"{archive}: link {member.name!r} -> {member.linkname!r} leaves the "
                             f"extraction folder; refusing to extract")
    elif not (member.isfile() or member.isdir()):
        raise BccmtError(f"{archive}: member {member.name!r} is a device or FIFO; refusing to extract")


def check_tar_members(tar, root, archive):
    for member in tar.getmembers():
        check_tar_member(member, root, archive)


def extract(archive, folder):
    """Extract ``archive`` (tar, compressed tar or zip) into the new folder ``folder``."""
    root = os.path.realpath(folder)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                safe_member_path(root, info.filename, archive)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise BccmtError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")
            zipped.extractall(root)
        return
    try:
        tar = tarfile.open(archive, "r:*")
    except tarfile.TarError as error:
        raise BccmtError(f"{archive}: not a .tar.gz, .tar or .zip archive ({error})") from None
    with tar:
        check_tar_members(tar, root, archive)  # everything refusable before anything is written
        # Member by member, each checked again against the links extracted before it: our own
        # resolution of link chains, so safety does not depend on tarfile's "data" filter (Python
        # 3.10.12+ / 3.11.4+; setup.cfg allows 3.10.0). Where the filter exists it is applied too
        # (it also drops odd permissions).
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        try:
            for member in tar.getmembers():
                check_tar_member(member, root, archive)
                # Folder modes are not applied (a read-only folder would stop its own members).
                tar.extract(member, root, set_attrs=not member.isdir(), **extra)
        except tarfile.TarError as error:  # FilterError included
            raise BccmtError(f"{archive}: cannot extract: {error}") from None


def find_data_root(folder, expect=None):
    """``folder`` or its single top-level subfolder: the one holding ``expect`` when given."""
    entries = [entry for entry in folder.iterdir() if not entry.name.startswith(".")]
    candidates = [folder]
    if len(entries) == 1 and entries[0].is_dir():
        candidates.append(entries[0])
    if expect is None:
        return candidates[-1]
    for candidate in candidates:
        if (candidate / expect).exists():
            return candidate
    raise BccmtError(f"{folder}: the archive holds no {expect!r} (at its top or in its single top-level folder)")


def read_marker(dest):
    try:
        return json.loads((dest / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_marker(dest, record):
    tmp = dest / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, dest / MARKER)


def download_corpus(url, sha256, dest, expect=None, keep_archive=False):
    """Download, check and extract ``url`` into ``dest`` (once); return the data root."""
    sha256 = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise BccmtError(f"--sha256 must be 64 hexadecimal digits, got {sha256!r}")
    dest = Path(dest).absolute()
    dest.mkdir(parents=True, exist_ok=True)
    marker = read_marker(dest) or {}
    root = dest / str(marker.get("data_root", EXTRACTED))
    if marker.get("sha256") == sha256 and root.is_dir():
        log(f"{dest / MARKER}: already downloaded and extracted ({root}); skipped")
        return root
    (dest / MARKER).unlink(missing_ok=True)  # an older corpus (other checksum) is replaced
    for stale in dest.glob(f".{EXTRACTED}.*.partial"):  # left by a run killed while extracting
        shutil.rmtree(stale, ignore_errors=True)

    archive = dest / archive_name(url)
    if archive.is_file() and file_sha256(archive) == sha256:
        log(f"{archive}: verified archive from an earlier run; not downloading again")
    else:
        log(f"downloading {url} -> {archive}")
        download(url, archive, sha256)
        log(f"{archive}: SHA-256 verified")

    partial = Path(tempfile.mkdtemp(prefix=f".{EXTRACTED}.", suffix=".partial", dir=dest))
    try:
        extract(archive, partial)
        root = find_data_root(partial, expect)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(dest / EXTRACTED, ignore_errors=True)
    os.replace(partial, dest / EXTRACTED)
    root = dest / EXTRACTED / root.relative_to(partial)
    write_marker(dest, {"url": url, "sha256": sha256, "archive": archive.name,
                        "data_root": str(root.relative_to(dest))})
    if not keep_archive:
        archive.unlink()
    log(f"extracted into {dest / EXTRACTED}; data root {root}")
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="http(s):// or file:// address of the archive")
    parser.add_argument("--sha256", required=True, help="expected SHA-256 of the archive (64 hex digits)")
    parser.add_argument("--dest", required=True, type=Path, help="cache folder for the archive and its contents")
    parser.add_argument("--expect", default=None, help="an entry the data root must hold, e.g. voxceleb1")
    parser.add_argument("--keep-archive", action="store_true", help="keep the archive after extracting it")
    args = parser.parse_args(argv)
    root = download_corpus(args.url, args.sha256, args.dest, args.expect, args.keep_archive)
    print(root)


if __name__ == "__main__":
    try:
        main()
    except BccmtError as error:
        sys.exit(f"download_corpus.py: error: {error.message}")
    except KeyboardInterrupt:
        sys.exit("download_corpus.py: interrupted")
