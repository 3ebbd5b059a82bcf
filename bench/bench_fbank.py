"""Fbank extraction throughput (seconds of audio per second of wall time) on the mini corpus.

Compares, on the same files in the same run:
  (a) a plain Python loop: soundfile.read + torchaudio.compliance.kaldi.fbank, 1 torch thread;
  (a2) the same through our library in-process (read_audio, compute_fbank, TableWriter);
  (b) ``bccmt compute-fbank`` as one job writing an ark/scp (process start-up included);
  (c) the same split into 2 jobs through ``utils/run.sh``.
Each method runs --repeats times and the fastest run counts (the machine may be shared).

Example:
    BCCMT_DATA=../shared/data/minivox python bench/bench_fbank.py --max-files 400
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def voxceleb1_test_wavs(data_root, max_files):
    """The VoxCeleb1 test-speaker wavs (id10270-id10309) under data_root, sorted."""
    wav_root = Path(data_root) / "voxceleb1" / "wav"
    if not wav_root.is_dir():
        sys.exit(f"bench_fbank: no {wav_root}; give --data-root or set BCCMT_DATA")
    speakers = sorted(p for p in wav_root.iterdir() if "id10270" <= p.name <= "id10309")
    files = sorted(str(f) for spk in speakers for f in spk.rglob("*.wav"))
    return files[:max_files] if max_files else files


def plain_loop(files):
    import soundfile
    import torch
    import torchaudio.compliance.kaldi as kaldi

    torch.set_num_threads(1)
    start = time.perf_counter()
    with torch.no_grad():
        for path in files:
            samples, rate = soundfile.read(path, dtype="float32")
            kaldi.fbank(torch.from_numpy(samples).unsqueeze(0) * 32768, num_mel_bins=80, frame_length=25.0,
                        frame_shift=10.0, dither=0.0, window_type="hamming", sample_frequency=float(rate))
    return time.perf_counter() - start


def library_loop(files, workdir):
    """Our library in-process (read_audio + compute_fbank + TableWriter): no process start-up."""
    import torch

    from bccmt_tools.features import FbankConfig, compute_fbank
    from bccmt_tools.io.audio import iter_wav_scp
    from bccmt_tools.io.kaldi_table import TableWriter

    torch.set_num_threads(1)
    write_scp(workdir / "wav.all.scp", files)
    config = FbankConfig()
    start = time.perf_counter()
    with TableWriter(f"ark,scp:{workdir}/lib.ark,{workdir}/lib.scp") as writer:
        for key, samples in iter_wav_scp(str(workdir / "wav.all.scp")):
            writer[key] = compute_fbank(samples, config)
    return time.perf_counter() - start


def write_scp(path, files):
    with open(path, "w", encoding="utf-8") as handle:
        for number, wav in enumerate(files):
            handle.write(f"utt{number:06d} {wav}\n")


def run_jobs(files, workdir, num_jobs, bccmt):
    """Time ``num_jobs`` compute-fbank jobs through utils/run.sh (1 job runs without it)."""
    chunk = (len(files) + num_jobs - 1) // num_jobs
    for job in range(1, num_jobs + 1):
        write_scp(workdir / f"wav.{job}.scp", files[(job - 1) * chunk: job * chunk])
    outputs = f"ark,scp:{workdir}/f{num_jobs}.JOB.ark,{workdir}/f{num_jobs}.JOB.scp"
    if num_jobs == 1:
        command = [bccmt, "compute-fbank", f"scp:{workdir}/wav.1.scp", outputs.replace("JOB", "1")]
    else:
        command = [str(REPO / "utils" / "run.sh"), f"JOB=1:{num_jobs}", f"{workdir}/log/fbank.JOB.log",
                   bccmt, "compute-fbank", f"scp:{workdir}/wav.JOB.scp", outputs]
    start = time.perf_counter()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL if num_jobs == 1 else None)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("BCCMT_DATA"), help="mini corpus root ($BCCMT_DATA)")
    parser.add_argument("--max-files", type=int, default=0, help="use the first N test wavs (0: all)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method; the fastest counts (default 3)")
    args = parser.parse_args()
    if not args.data_root:
        sys.exit("bench_fbank: give --data-root or set BCCMT_DATA")
    import soundfile

    files = voxceleb1_test_wavs(args.data_root, args.max_files)
    audio_seconds = sum(soundfile.info(f).duration for f in files)
    bccmt = shutil.which("bccmt") or str(Path(sys.executable).parent / "bccmt")
    os.environ["OMP_NUM_THREADS"] = "1"

    def best(run):
        return min(run() for _ in range(max(1, args.repeats)))

    results = [("(a) plain loop: soundfile + kaldi.fbank", best(lambda: plain_loop(files)))]
    with tempfile.TemporaryDirectory(prefix="bench_fbank.") as tmp:
        workdir = Path(tmp)
        results.append(("(a2) bccmt library in-process, writes ark", best(lambda: library_loop(files, workdir))))
        results.append(("(b) bccmt compute-fbank, 1 job", best(lambda: run_jobs(files, workdir, 1, bccmt))))
        results.append(("(c) bccmt compute-fbank, 2 jobs (run.sh)", best(lambda: run_jobs(files, workdir, 2, bccmt))))

    print(f"{len(files)} files, {audio_seconds:.1f} s of audio; {os.cpu_count()} CPU cores, 1 torch thread per process;"
          f" best of {max(1, args.repeats)} runs")
    print(f"{'method':44s} {'wall s':>8s} {'audio s/s':>10s} {'vs (a)':>7s}")
    baseline = audio_seconds / results[0][1]
    for name, seconds in results:
        speed = audio_seconds / seconds
        print(f"{name:44s} {seconds:8.2f} {speed:10.0f} {speed / baseline:6.2f}x")


if __name__ == "__main__":
    main()
