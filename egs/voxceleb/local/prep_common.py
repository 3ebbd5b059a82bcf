"""Helpers shared by the corpus preparation scripts in local/: scanning, wav headers, data dirs."""

import os
import struct
import sys
from pathlib import Path

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_directory
from bccmt_tools.io.datadir import DataDir, read_kv


def log(message):
    print(f"{Path(sys.argv[0]).name}: {message}", file=sys.stderr, flush=True)


def sorted_entries(folder):
    """Entries of ``folder`` sorted by name (``os.scandir``: one system call per folder)."""
    with os.scandir(folder) as it:
        return sorted(it, key=lambda entry: entry.name)


def scan_voxceleb(root, extension):
    """Yield ``(speaker, video, stem, path)`` for ``root/<spk>/<video>/<stem><extension>``, sorted.

    Works on the 1.2M files of VoxCeleb2 in a few seconds (no per-file stat beyond scandir).
    """
    for speaker in sorted_entries(root):
        if not speaker.is_dir():
            continue
        for video in sorted_entries(speaker.path):
            if not video.is_dir():
                continue
            for item in sorted_entries(video.path):
                if item.name.endswith(extension) and item.is_file():
                    yield speaker.name, video.name, item.name[: -len(extension)], item.path


def wav_duration(path):
    """Duration in seconds from a PCM wav header (RIFF chunks), without decoding the audio."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise BccmtError(f"{path}: not a RIFF/WAVE file")
        byte_rate = None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                raise BccmtError(f"{path}: wav header has no data chunk")
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt ":
                fmt = handle.read(size + (size & 1))
                byte_rate = struct.unpack("<I", fmt[8:12])[0]
            elif name == b"data":
                if not byte_rate:
                    raise BccmtError(f"{path}: wav data chunk before its fmt chunk")
                if size in (0, 0xFFFFFFFF):  # streamed wav: size unknown, use the file size
                    size = os.path.getsize(path) - handle.tell()
                return size / byte_rate
            else:
                handle.seek(size + (size & 1), os.SEEK_CUR)


def write_data_dir(path, **files):
    """Write a whole data dir into a temporary folder, then rename it into place.

    A killed run leaves no complete-looking data dir: either the old one or the new one.
    """
    with atomic_directory(path) as work:
        DataDir.write(work, **files)


def read_wav_scp_keys(data_dir):
    return set(read_kv(Path(data_dir) / "wav.scp"))
