"""Band-limited resampling in numpy, for the torch-free path (``verify --onnx --resample``).

A polyphase windowed-sinc filter (Kaiser window, 16 zero crossings, cut-off 94.5% of the lower
Nyquist frequency), evaluated in blocks of output samples, so memory stays bounded whatever the
length. With torch installed the tools use ``torchaudio.functional.resample`` instead; the two
agree to about 1e-3 on speech-band signals, not bit for bit.

>>> import numpy as np
>>> tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
>>> up = resample_numpy(tone, 8000, 16000)
>>> up.shape, bool(np.abs(up[2000:-2000] - np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)[2000:-2000]).max() < 1e-2)
((16000,), True)
"""

from math import gcd

import numpy as np

ZERO_CROSSINGS = 16
ROLLOFF = 0.945
KAISER_BETA = 8.6
BLOCK = 1 << 15  # output samples per block


def resample_numpy(samples, orig_rate, new_rate):
    """``samples`` (1-D) from ``orig_rate`` to ``new_rate`` Hz; ``ceil(n * new / orig)`` samples."""
    samples = np.asarray(samples, dtype=np.float32)  # no whole-signal copy: blocks go to float64
    step = gcd(int(orig_rate), int(new_rate))
    up, down = int(new_rate) // step, int(orig_rate) // step
    if up == down or samples.size == 0:
        return samples.astype(np.float32)
    # the filter on the up-sampled grid (rate orig * up): cut-off in cycles per up-sampled sample
    cutoff = 0.5 * min(1.0, up / down) * ROLLOFF / up
    half = int(np.ceil(ZERO_CROSSINGS / (2 * cutoff)))
    taps = np.arange(-half, half + 1)
    kernel = up * 2 * cutoff * np.sinc(2 * cutoff * taps) * np.kaiser(2 * half + 1, KAISER_BETA)
    width = (2 * half) // up + 2  # input samples under the kernel
    total = -(-samples.size * up // down)
    out = np.empty(total, dtype=np.float32)
    for start in range(0, total, BLOCK):
        position = np.arange(start, min(total, start + BLOCK), dtype=np.int64) * down  # up-sampled grid
        first = -(-(position - half) // up)  # first input sample under the kernel
        inputs = first[:, None] + np.arange(width)
        offsets = position[:, None] - up * inputs  # kernel index - half
        valid = (np.abs(offsets) <= half) & (inputs >= 0) & (inputs < samples.size)
        weights = np.where(valid, kernel[np.clip(offsets + half, 0, 2 * half)], 0.0)
        block = samples[np.clip(inputs, 0, samples.size - 1)].astype(np.float64)
        out[start:start + len(position)] = (weights * block).sum(axis=1)
    return out
