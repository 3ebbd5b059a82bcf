#!/usr/bin/env python3
"""Stage 2, RIRs: a data dir of room impulse responses from the RIRS_NOISES rir_list files.

Reads every RIR_ROOT/simulated_rirs/*/rir_list (lines `--rir-id ID --room-id ROOM PATH`, PATH
relative to the folder above RIRS_NOISES). wav.scp maps rir-id to the wav; utt2spk maps it to
its room. Kaldi's voxceleb/v2 uses the small and medium rooms only; --rooms selects the types.

Usage: local/make_rirs.py [--rooms smallroom,mediumroom,largeroom] RIR_ROOT OUT_DIR
"""

import argparse
import shlex
import sys
from pathlib import Path

from prep_common import log, write_data_dir

from bccmt_tools.errors import BccmtError


def parse_rir_list(rir_list, rir_root):
    """``{rir_id: (room_id, absolute wav path)}`` from one Kaldi rir_list; errors name file:line."""
    entries = {}
    for number, line in enumerate(rir_list.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = shlex.split(line)
        options = {}
        while len(fields) >= 2 and fields[0].startswith("--"):
            options[fields[0][2:]] = fields[1]
            fields = fields[2:]
        if len(fields) != 1 or "rir-id" not in options:
            raise BccmtError(f"{rir_list}:{number}: expected '--rir-id ID [--room-id ROOM] PATH', got {line!r}")
        relative = Path(fields[0])
        # PATH starts with RIRS_NOISES/ in the distribution; also accept a root renamed by the user.
        candidates = [rir_root.parent / relative, rir_root / Path(*relative.parts[1:]), rir_root / relative]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise BccmtError(f"{rir_list}:{number}: key {options['rir-id']!r}: file not found: {relative}")
        entries[options["rir-id"]] = (options.get("room-id", options["rir-id"]), str(path.resolve()))
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", default="smallroom,mediumroom,largeroom",
                        help="comma-separated room types under simulated_rirs/")
    parser.add_argument("rir_root", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    rir_root = args.rir_root.resolve()
    rir_lists = [rir_root / "simulated_rirs" / room / "rir_list" for room in args.rooms.split(",") if room]
    present = [path for path in rir_lists if path.is_file()]
    for path in sorted(set(rir_lists) - set(present)):
        log(f"{path}: absent, skipped")
    if not present:
        log(f"no rir_list under {rir_root}/simulated_rirs: reverberation will be skipped")
        return
    entries = {}
    for rir_list in present:
        for rir_id, value in parse_rir_list(rir_list, rir_root).items():
            if rir_id in entries:
                raise BccmtError(f"{rir_list}: key {rir_id!r}: rir-id listed twice")
            entries[rir_id] = value
    write_data_dir(args.out_dir, wav_scp={k: v[1] for k, v in entries.items()},
                   utt2spk={k: v[0] for k, v in entries.items()})
    log(f"{args.out_dir}: {len(entries)} RIRs from {len(present)} rir_list file(s)")


if __name__ == "__main__":
    try:
        main()
    except BccmtError as error:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {error.message}")
