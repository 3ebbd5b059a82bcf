#!/usr/bin/env python3
"""Stage 1, VoxCeleb2-dev: a data dir whose wav.scp lists each m4a file (decoded in-process by PyAV).

With --m4a-to-wav, the m4a files are converted once to 16 kHz 16-bit wav files under --wav-dir
(NJ threads, PyAV decoding; files already converted are kept), and wav.scp lists those, with
utt2dur read from their headers. With --ffmpeg-pipes, wav.scp holds Kaldi/WeSpeaker-style
`ffmpeg ... - |` pipes instead (needs an ffmpeg binary when the data is read). m4a and pipe
entries get no utt2dur (that would mean decoding everything).

Usage: local/make_voxceleb2.py [--m4a-to-wav | --ffmpeg-pipes] [--wav-dir DIR] [--nj N] VOX2_ROOT OUT_DIR
  VOX2_ROOT holds dev/aac/<spk>/<video>/<n>.m4a (as vox2_aac.zip unpacks).
"""

import argparse
import os
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prep_common import log, scan_voxceleb, wav_duration, write_data_dir

import numpy as np
import soundfile

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.audio import read_audio
from bccmt_tools.io.trials import voxceleb_path_to_utt


def ffmpeg_pipe(path):
    return f"ffmpeg -nostdin -loglevel error -i {shlex.quote(path)} -f wav -ar 16000 -ac 1 - |"


def convert_one(pair):
    """Decode one m4a to a 16 kHz mono 16-bit wav (as ``ffmpeg -ar 16000 -ac 1`` would write it).

    The wav is written under a temporary name and renamed, so a killed run leaves no partial file.
    """
    m4a, wav = pair
    samples = read_audio(m4a, sample_rate=16000, resample=True, where=m4a,
                         channel=0)  # VoxCeleb2 is mono; channel 0 of anything else
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
    os.makedirs(os.path.dirname(wav), exist_ok=True)
    soundfile.write(f"{wav}.tmp", pcm, 16000, subtype="PCM_16", format="WAV")
    os.replace(f"{wav}.tmp", wav)


def aac_folder(root):
    for folder in (root / "dev" / "aac", root / "aac"):
        if folder.is_dir():
            return folder.resolve()
    raise BccmtError(f"{root}: no dev/aac/ folder: is this VoxCeleb2?")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--m4a-to-wav", action="store_true", help="convert to wav files (in-process, no ffmpeg)")
    how.add_argument("--ffmpeg-pipes", action="store_true", help="ffmpeg pipes in wav.scp (Kaldi convention)")
    parser.add_argument("--wav-dir", type=Path, default=Path("wav/voxceleb2_dev"), help="where converted wavs go")
    parser.add_argument("--nj", type=int, default=1, help="conversion threads")
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
        with ThreadPoolExecutor(max_workers=max(1, args.nj)) as pool:
            for _ in pool.map(convert_one, todo):
                pass
        wav_scp = targets
        files["utt2dur"] = {utt: f"{wav_duration(wav):.3f}" for utt, wav in targets.items()}
    elif args.ffmpeg_pipes:
        wav_scp = {utt: ffmpeg_pipe(path) for utt, (path, _) in sources.items()}
    else:
        wav_scp = {utt: str(path) for utt, (path, _) in sources.items()}
    write_data_dir(args.out_dir, wav_scp=wav_scp, **files)
    kind = "wav files" if args.m4a_to_wav else "ffmpeg pipes" if args.ffmpeg_pipes else "m4a files, decoded in-process"
    log(f"{args.out_dir}: {len(utt2spk)} utterances, {len(set(utt2spk.values()))} speakers ({kind})")


if __name__ == "__main__":
    try:
        main()
    except BccmtError as error:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {error.message}")
