"""Kaldi framing arithmetic: samples <-> frames (the one place that turns ms into samples).

A frame is ``frame_length`` ms long and frames start every ``frame_shift`` ms; both are rounded
down to whole samples as Kaldi does. With ``snip_edges`` only frames that fit entirely count;
without it there are ``round(n / shift)`` frames centred on multiples of the shift. Pure Python
(no numpy, no torch).

>>> window_and_shift(16000, 25.0, 10.0)
(400, 160)
>>> frame_count(16000, 400, 160, True), frame_count(16000, 400, 160, False)
((98, 0), (100, -120))
>>> samples_for_frames(200, 400, 160)  # a 200-frame training crop
32240
"""


def window_and_shift(sample_rate, frame_length_ms, frame_shift_ms):
    """``(window, shift)`` in samples (rounded down, as Kaldi's ``WindowSize``/``WindowShift``)."""
    return int(sample_rate * frame_length_ms * 0.001), int(sample_rate * frame_shift_ms * 0.001)


def frame_count(num_samples, window, shift, snip_edges):
    """``(frames, first sample of frame 0)`` of Kaldi's framing of ``num_samples`` samples (the
    first sample is negative, i.e. reflected, without ``snip_edges``)."""
    if snip_edges:
        return (0 if num_samples < window else 1 + (num_samples - window) // shift), 0
    return (num_samples + shift // 2) // shift, shift // 2 - window // 2


def samples_for_frames(frames, window, shift):
    """Samples that ``frames`` consecutive snipped frames cover: ``window + (frames - 1) * shift``."""
    return window + (int(frames) - 1) * shift


def config_window_and_shift(config):
    """``(window, shift)`` in samples of an object with ``sample_rate`` (or a given rate),
    ``frame_length`` and ``frame_shift`` (an FbankConfig)."""
    return window_and_shift(config.sample_rate, config.frame_length, config.frame_shift)


def num_frames(num_samples, config):
    """Frames Kaldi makes of ``num_samples`` samples with an FbankConfig ``config`` (0 when too short)."""
    window, shift = config_window_and_shift(config)
    return frame_count(num_samples, window, shift, config.snip_edges)[0]
