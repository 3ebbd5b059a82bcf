"""Numpy fbank vs torchaudio fbank speed, same process, same audio (minivox wavs), 1 torch thread.

usage: BCCMT_DATA=/work/shared/data/minivox python bench_fbank_numpy.py [--repeats 5]
"""
import argparse, glob, os, time
import numpy as np
import torch
from bccmt_tools.features.fbank import FbankConfig, compute_fbank
from bccmt_tools.features.fbank_numpy import compute_fbank_numpy
from bccmt_tools.io.audio import read_audio

parser = argparse.ArgumentParser()
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--files", type=int, default=60)
args = parser.parse_args()
torch.set_num_threads(1)
root = os.environ["BCCMT_DATA"]
files = sorted(glob.glob(f"{root}/voxceleb1/wav/*/*/*.wav"))[::10][:args.files]
clips = [read_audio(f) for f in files]
long_clip = np.concatenate(clips[:10])  # ~10 s
config = FbankConfig()
cases = {"1s x %d" % len(clips): clips, "10s x 1": [long_clip]}
for name, audio in cases.items():
    best = {"torchaudio": 1e9, "numpy": 1e9}
    for _ in range(args.repeats):  # interleaved, best of N (the machine is shared)
        for label, fn in (("torchaudio", compute_fbank), ("numpy", compute_fbank_numpy)):
            start = time.perf_counter()
            for x in audio:
                fn(x, config)
            best[label] = min(best[label], time.perf_counter() - start)
    per = {k: v / len(audio) * 1e3 for k, v in best.items()}
    print(f"{name}: torchaudio {per['torchaudio']:.2f} ms/utt, numpy {per['numpy']:.2f} ms/utt, "
          f"numpy/torchaudio {best['numpy'] / best['torchaudio']:.2f}x")
