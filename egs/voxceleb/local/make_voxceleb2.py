#!/usr/bin/env python3
"""Stage 1, VoxCeleb2-dev: a data dir whose wav.scp decodes each m4a through an ffmpeg pipe.

With --m4a-to-wav, the m4a files are converted once to 16 kHz 16-bit wav files under --wav-dir
(NJ ffmpeg processes at a time, 64 files each; files already converted are kept), and wav.scp lists those, with
utt2dur read from their headers. Pipe entries get no utt2dur (that would mean decoding everything).

Usage: local/make_voxceleb2.py [--m4a-to-wav] [--wav-dir DIR] [--nj N] VOX2_ROOT OUT_DIR
  VOX2_ROOT holds dev/aac/<spk>/<video>/<n>.m4a (as vox2_aac.zip unpacks).
"""

import argparse
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prep_common import log, scan_voxceleb, wav_duration, write_data_dir

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.trials import voxceleb_path_to_utt


def ffmpeg_pipe(path):
    return f"ffmpeg -nostdin -loglevel error -i {shlex.quote(path)} -f wav -ar 16000 -ac 1 - |"


#: Files per ffmpeg process when converting: one process start costs more than decoding a file.
BATCH = 64


def convert_batch(pairs):
    """Convert ``[(m4a, wav), ...]`` with one ffmpeg process (16 kHz mono 16-bit wav).

    Outputs go to temporary names and are renamed when ffmpeg succeeds, so a killed run leaves no
    partial wav; when a batch fails, its files are converted one by one to name the bad one.
    """
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    for m4a, _ in pairs:
        command += ["-i", m4a]
    for index, (_, wav) in enumerate(pairs):
        os.makedirs(os.path.dirname(wav), exist_ok=True)
        command += ["-map", f"{index}:a:0", "-f", "wav", "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", f"{wav}.tmp"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        for _, wav in pairs:
            os.replace(f"{wav}.tmp", wav)
        return
    for _, wav in pairs:
        if os.path.exists(f"{wav}.tmp"):
            os.unlink(f"{wav}.tmp")
    if len(pairs) == 1:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise BccmtError(f"{pairs[0][0]}: ffmpeg failed (exit {result.returncode}): {reason}")
    for pair in pairs:
        convert_batch([pair])


def aac_folder(root):
    for folder in (root / "dev" / "aac", root / "aac"):
        if folder.is_dir():
            return folder.resolve()
    raise BccmtError(f"{root}: no dev/aac/ folder: is this VoxCeleb2?")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m4a-to-wav", action="store_true", help="convert to wav files instead of ffmpeg pipes")
    parser.add_argument("--wav-dir", type=Path, default=Path("wav/voxceleb2_dev"), help="where converted wavs go")
    parser.add_argument("--nj", type=int, default=1, help="ffmpeg processes at a time (conversion)")
    parser.add_argument("vox2_root", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()

    wav_scp, utt2spk, sources = {}, {}, {}
    for speaker, video, stem, path in scan_voxceleb(aac_folder(args.vox2_root), ".m4a"):
        utt = voxceleb_path_to_utt(f"{speaker}/{video}/{stem}.m4a")
        utt2spk[utt] = speaker
        sources[utt] = (path, f"{speaker}/{video}/{stem}.wav")
    if not utt2spk:
        raise BccmtError(f"{args.vox2_root}: no .m4a files found")

    files = {"utt2spk": utt2spk}
    if args.m4a_to_wav:
        wav_root = args.wav_dir.resolve()
        targets = {utt: str(wav_root / relative) for utt, (_, relative) in sources.items()}
        todo = [(sources[utt][0], wav) for utt, wav in targets.items() if not os.path.isfile(wav)]
        log(f"converting {len(todo)} of {len(targets)} m4a files to wav under {wav_root} ({args.nj} jobs)")
        batches = [todo[start:start + BATCH] for start in range(0, len(todo), BATCH)]
        with ThreadPoolExecutor(max_workers=max(1, args.nj)) as pool:
            for _ in pool.map(convert_batch, batches):
                pass
        wav_scp = targets
        files["utt2dur"] = {utt: f"{wav_duration(wav):.3f}" for utt, wav in targets.items()}
    else:
        wav_scp = {utt: ffmpeg_pipe(path) for utt, (path, _) in sources.items()}
    write_data_dir(args.out_dir, wav_scp=wav_scp, **files)
    log(f"{args.out_dir}: {len(utt2spk)} utterances, {len(set(utt2spk.values()))} speakers"
        + (" (wav files)" if args.m4a_to_wav else " (ffmpeg pipes)"))


if __name__ == "__main__":
    try:
        main()
    except BccmtError as error:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {error.message}")
