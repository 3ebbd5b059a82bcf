"""Energy voice-activity detection in the style of Kaldi's ``compute-vad`` (numpy only, no torch).

Each frame (25 ms windows every 10 ms, Kaldi framing) gets its raw log energy: samples scaled to
the int16 range, DC removed, sum of squares, floored at float32's epsilon before the log. A frame
is *loud* when its log energy exceeds ``energy_threshold + energy_mean_scale * mean log energy``
of the recording, and *voiced* when at least ``proportion_threshold`` of the frames within
``frames_context`` frames on either side (itself included) are loud. The defaults are those of
Kaldi's VoxCeleb recipe (``conf/vad.conf``: 5.5, 0.5, 2, 0.12).

The verification tools use it to refuse audio with too little speech (:func:`require_speech`):
a speaker embedding of silence or of a 50 ms clip is noise, and a verifier must not accept it as
anybody. Like any energy VAD it cannot tell speech from steady noise that is loud enough (above
about -68 dBFS): it catches silence and near-empty clips, not every non-speech recording.

>>> rate = 16000
>>> speech_seconds(np.zeros(rate, dtype=np.float32), rate)  # one second of digital silence
0.0
>>> t = np.arange(rate) / rate
>>> tone = 0.3 * np.sin(2 * np.pi * 200 * t) * (t > 0.5)    # 0.5 s silence, then 0.5 s of tone
>>> round(speech_seconds(tone, rate), 2)
0.52
>>> require_speech(np.zeros(800), rate, 0.3, "wav.scp: key 'u1'")
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: wav.scp: key 'u1': too little speech: 0.00 s of voiced frames (energy VAD) in 0.05 s of audio, need 0.3 s (silence or a clip too short to verify; --min-speech 0 turns this check off)
"""

from dataclasses import dataclass

import numpy as np

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.fbank_numpy import FLOAT32_EPSILON, frame_signal
from bccmt_tools.features.framing import window_and_shift

INT16_SCALE = 32768.0
#: Seconds of voiced frames the verification tools require by default (``--min-speech``).
DEFAULT_MIN_SPEECH = 0.15
_BLOCK_FRAMES = 4096  # frames summed at a time (bounded memory on long recordings)


@dataclass(frozen=True)
class VadConfig:
    """Options of the energy VAD (names as in Kaldi's ``compute-vad``, framing as in fbank)."""

    energy_threshold: float = 5.5
    energy_mean_scale: float = 0.5
    frames_context: int = 2
    proportion_threshold: float = 0.12
    frame_length: float = 25.0   # ms
    frame_shift: float = 10.0    # ms
    snip_edges: bool = True


def vad_config_for(fbank_config):
    """A :class:`VadConfig` whose frames are those of ``fbank_config`` (one decision per fbank row)."""
    return VadConfig(frame_length=float(fbank_config.frame_length), frame_shift=float(fbank_config.frame_shift),
                     snip_edges=bool(fbank_config.snip_edges))


def frame_log_energy(samples, sample_rate, config=VadConfig()):
    """Raw log energy ``[frames]`` of float samples in [-1, 1] (int16 scale, DC removed).

    >>> frame_log_energy(np.zeros(399), 16000).shape  # shorter than one 25 ms frame
    (0,)
    """
    window, shift = window_and_shift(sample_rate, config.frame_length, config.frame_shift)
    if window < 2 or shift < 1:
        raise BccmtError(f"VAD: frames of {window} samples every {shift} are too small at {sample_rate} Hz")
    frames = frame_signal(np.asarray(samples, dtype=np.float64).ravel() * INT16_SCALE, window, shift,
                          config.snip_edges)
    energy = np.empty(frames.shape[0])
    for start in range(0, frames.shape[0], _BLOCK_FRAMES):  # on the strided view: no copy of the frames
        block = frames[start:start + _BLOCK_FRAMES]
        total = block.sum(axis=1)
        # Energy after DC removal: sum(x^2) - sum(x)^2 / n (3x faster than subtracting the mean)
        energy[start:start + _BLOCK_FRAMES] = np.einsum("ij,ij->i", block, block) - total * total / window
    return np.log(np.maximum(energy, FLOAT32_EPSILON))


def voiced_frames(log_energy, config=VadConfig()):
    """Boolean voicing decision per frame from :func:`frame_log_energy`.

    >>> voiced_frames(np.array([-15.9, 20.0, 20.0, -15.9, -15.9, -15.9, -15.9, -15.9]),
    ...               VadConfig(frames_context=0)).tolist()
    [False, True, True, False, False, False, False, False]
    """
    log_energy = np.asarray(log_energy, dtype=np.float64)
    if log_energy.size == 0:
        return np.zeros(0, dtype=bool)
    threshold = config.energy_threshold + config.energy_mean_scale * log_energy.mean()
    loud = np.concatenate([[0.0], np.cumsum(log_energy > threshold)])
    index = np.arange(log_energy.size)
    lo = np.maximum(index - config.frames_context, 0)
    hi = np.minimum(index + config.frames_context + 1, log_energy.size)
    return (loud[hi] - loud[lo]) >= config.proportion_threshold * (hi - lo)


def speech_seconds(samples, sample_rate, config=VadConfig()):
    """Seconds of voiced frames in ``samples`` (frames times the frame shift)."""
    voiced = voiced_frames(frame_log_energy(samples, sample_rate, config), config)
    return float(voiced.sum()) * config.frame_shift * 0.001


def require_speech(samples, sample_rate, min_speech=DEFAULT_MIN_SPEECH, where="", config=VadConfig()):
    """Raise a one-line :class:`BccmtError` naming ``where`` when ``samples`` hold less than
    ``min_speech`` seconds of voiced frames; returns the seconds found. ``min_speech <= 0`` turns
    the check off (returns None without computing anything)."""
    if min_speech is None or min_speech <= 0:
        return None
    found = speech_seconds(samples, sample_rate, config)
    error = speech_error(found, len(samples) / sample_rate, min_speech, where)
    if error is not None:
        raise error
    return found


def speech_error(found, duration, min_speech, where=""):
    """The :class:`BccmtError` for ``found`` seconds of speech in ``duration`` seconds of audio
    when that is below ``min_speech`` (None when enough, or when the check is off)."""
    if min_speech is None or min_speech <= 0 or found >= min_speech:
        return None
    prefix = f"{where}: " if where else ""
    return BccmtError(f"{prefix}too little speech: {found:.2f} s of voiced frames (energy VAD) in "
                      f"{duration:.2f} s of audio, need {min_speech:g} s (silence or a clip too short to "
                      f"verify; --min-speech 0 turns this check off)")
