"""The audio a trial list needs, embedded: only the utterances named in the trials are read from
``wav.scp``, then checked for speech, turned into fbank and embedded (``verify``, the Python API).
"""

from bccmt_tools.backend.embeddings import EmbeddingTable
from bccmt_tools.embed.extract import extract_embeddings
from bccmt_tools.errors import BccmtError
from bccmt_tools.features.vad import DEFAULT_MIN_SPEECH


def audio_trials(trials, spk2utt=None, where="spk2utt"):
    """The pairs whose audio is needed: ``trials`` themselves, or with ``spk2utt`` (enrolment ids
    are speakers, ``where`` its file) each enrolment speaker's utterances paired with the test."""
    from bccmt_tools.io.trials import Trial

    if spk2utt is None:
        return trials
    missing = sorted({t.enroll for t in trials} - set(spk2utt))
    if missing:
        raise BccmtError(f"{where}: key {missing[0]!r}: enrolment id of the trials not in spk2utt")
    return [Trial(utt, t.test, None) for t in trials for utt in spk2utt[t.enroll]]


def needed_audio(trials, wav_scp_path):
    """``[(key, wav.scp entry)]`` for every trial key, in first-use order; a key missing from
    ``wav.scp`` is an error naming both files' roles."""
    from bccmt_tools.io.kaldi_table import read_scp_lines

    entries = {key: value for key, value, _ in read_scp_lines(wav_scp_path)}
    needed = {}
    for trial in trials:
        for key in (trial[0], trial[1]):
            if key in needed:
                continue
            if key not in entries:
                raise BccmtError(f"{wav_scp_path}: key {key!r}: used in the trials but not in wav.scp")
            needed[key] = entries[key]
    return list(needed.items())


def embed_audio(entries, embedder, fbank, options, where, frontend="torchaudio", durations=None,
                on_error=None, min_speech=DEFAULT_MIN_SPEECH, vad_trim=False, resample=False, channel=None):
    """EmbeddingTable of ``[(key, wav.scp entry)]`` computed through fbank (by ``frontend``:
    ``torchaudio``, or ``numpy`` to run without torch) and the embedder. A dict ``durations``
    receives each key's audio length in seconds (a calibration's quality measure).

    Audio with less than ``min_speech`` seconds of speech (energy VAD; 0 turns the check off) is
    refused, as is unreadable or corrupt audio: an error naming the key, or with
    ``on_error(key, error)`` a key left out of the table. ``vad_trim`` embeds the voiced frames
    only; ``resample`` and ``channel`` as in :func:`~bccmt_tools.io.audio.read_audio`."""
    import numpy as np

    from bccmt_tools.embed.long_audio import speech_items

    # Read, speech-checked and turned into fbank one recording at a time; recordings longer than
    # a minute are streamed from disk in bounded memory instead (embed.long_audio).
    features = speech_items(entries, fbank, where, on_error=on_error, frontend=frontend, min_speech=min_speech,
                            vad_trim=vad_trim, resample=resample, channel=channel, durations=durations)
    pairs = list(extract_embeddings(features, embedder, options, fbank.feature_dim, where, on_error))
    if not pairs:
        raise BccmtError(f"{where}: no usable audio: every recording needed was skipped")
    return EmbeddingTable([key for key, _ in pairs], np.stack([vector for _, vector in pairs]), where=where)
