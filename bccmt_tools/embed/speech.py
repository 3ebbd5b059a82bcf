"""Audio -> features for the verification tools, refusing audio with too little speech.

Shared by ``bccmt verify``, ``bccmt extract-embeddings --input-type wav`` and the Python API, so
each inherits the same check: every recording needs ``min_speech`` seconds of voiced frames
(energy VAD, :mod:`bccmt_tools.features.vad`), else it is an error naming its key, or with
``on_error`` a skipped entry. With ``vad_trim`` only the voiced frames go into the embedding
(Kaldi's ``select-voiced-frames``), for long recordings with pauses or silence around the speech.
Torch-free with ``frontend="numpy"``.

>>> import numpy as np
>>> from bccmt_tools.features.fbank import FbankConfig
>>> silence = [("u1", np.zeros(16000, dtype=np.float32))]
>>> list(speech_features(silence, FbankConfig(), "wav.scp", frontend="numpy"))
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: wav.scp: key 'u1': too little speech: 0.00 s of voiced frames (energy VAD) in 1.00 s of audio, need 0.15 s (silence or a clip too short to verify; --min-speech 0 turns this check off)
>>> [(key, feats.shape) for key, feats in speech_features(silence, FbankConfig(), "wav.scp", min_speech=0,
...                                                         frontend="numpy")]
[('u1', (98, 80))]
"""

from bccmt_tools.embed.extract import features_from_audio
from bccmt_tools.errors import BccmtError, skip_or_raise
from bccmt_tools.features.vad import (DEFAULT_MIN_SPEECH, frame_log_energy, speech_error, vad_config_for,
                                      voiced_frames)


def speech_features(audio_items, fbank_config, where="wav.scp", on_error=None, frontend="torchaudio",
                    min_speech=DEFAULT_MIN_SPEECH, vad_trim=False):
    """``(key, samples)`` -> ``(key, fbank)`` as :func:`~bccmt_tools.embed.extract.features_from_audio`
    does, after checking each recording holds ``min_speech`` seconds of speech (0 turns the check
    off); ``vad_trim`` keeps the voiced frames only. Problems raise, or go to ``on_error(key, error)``
    and the entry is skipped."""
    if min_speech is not None and min_speech < 0:
        raise BccmtError(f"--min-speech must be >= 0 seconds, got {min_speech}")
    vad = vad_config_for(fbank_config)
    rate = fbank_config.sample_rate
    masks = {}

    def checked():
        for key, samples in audio_items:
            if min_speech or vad_trim:
                voiced = voiced_frames(frame_log_energy(samples, rate, vad), vad)
                found = float(voiced.sum()) * vad.frame_shift * 0.001
                error = speech_error(found, len(samples) / rate, min_speech, f"{where}: key {key!r}")
                if error is None and vad_trim and not voiced.any():
                    error = BccmtError(f"{where}: key {key!r}: no voiced frames to keep (--vad-trim)")
                if error is not None:
                    skip_or_raise(key, error, on_error)
                    continue
                if vad_trim:
                    masks[key] = voiced
            yield key, samples

    for key, feats in features_from_audio(checked(), fbank_config, where, on_error=on_error, frontend=frontend):
        mask = masks.pop(key, None)
        if mask is not None and mask.shape[0] == feats.shape[0]:
            feats = feats[mask]
        yield key, feats
