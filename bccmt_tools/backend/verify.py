"""One-shot verification: audio -> fbank -> embeddings -> scores -> accept/reject decisions.

Only the utterances named in the trial list are read from ``wav.scp``. The decision threshold is
given, or taken from a score file's operating point (``eer``, ``mindcf<P_target>``), computed
with the same back-end on labelled trials.
"""

import re
from collections import namedtuple

from bccmt_tools.backend.embeddings import EmbeddingTable
from bccmt_tools.backend.extract import extract_embeddings
from bccmt_tools.backend.metrics import compute_metrics
from bccmt_tools.backend.scoring import read_scores
from bccmt_tools.errors import BccmtError
from bccmt_tools.features.vad import DEFAULT_MIN_SPEECH

Decision = namedtuple("Decision", "enroll test score accept")
OPERATING_POINTS = ("eer", "mindcf0.01", "mindcf0.05")


def threshold_from_scores(path, operating_point="eer", trials=None):
    """Threshold at an operating point of labelled scores in ``path`` (labels from the file, or
    from ``trials``): ``eer`` or ``mindcf<P_target>`` (e.g. ``mindcf0.01``)."""
    from bccmt_tools.backend.scoring import labels_from_trials

    scored = read_scores(path)
    labels = scored.labels
    if trials is not None:
        labels = labels_from_trials(scored, trials)
    if labels is None:
        raise BccmtError(f"{path}: --calibrate-on needs labelled scores ('enroll test score target|nontarget')")
    if operating_point == "eer":
        return compute_metrics(scored.scores, labels, ())["eer_threshold"]
    match = re.fullmatch(r"mindcf([0-9.]+)", operating_point)
    if not match:
        raise BccmtError(f"--operating-point {operating_point!r}: use eer or mindcf<P_target> (e.g. mindcf0.01)")
    p_target = float(match.group(1))
    metrics = compute_metrics(scored.scores, labels, (p_target,))
    return next(iter(metrics["min_dcf"].values()))["threshold"]


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

    from bccmt_tools.backend.long_audio import speech_items

    # Read, speech-checked and turned into fbank one recording at a time; recordings longer than
    # a minute are streamed from disk in bounded memory instead (backend.long_audio).
    features = speech_items(entries, fbank, where, on_error=on_error, frontend=frontend, min_speech=min_speech,
                            vad_trim=vad_trim, resample=resample, channel=channel, durations=durations)
    pairs = list(extract_embeddings(features, embedder, options, fbank.feature_dim, where, on_error))
    if not pairs:
        raise BccmtError(f"{where}: no usable audio: every recording needed was skipped")
    return EmbeddingTable([key for key, _ in pairs], np.stack([vector for _, vector in pairs]), where=where)


def decide(scored, threshold):
    """Decisions (accept when ``score >= threshold``) in trial order."""
    return [Decision(e, t, float(s), bool(s >= threshold))
            for e, t, s in zip(scored.enroll, scored.test, scored.scores.tolist())]


def format_decisions(decisions):
    return "".join(f"{d.enroll} {d.test} {d.score:.6f} {'accept' if d.accept else 'reject'}\n" for d in decisions)


def calibrated_llrs(calibration, scored, table, durations=None, enroll_spk2utt=None, where="trials"):
    """LLRs of ``scored`` (ScoredTrials) under ``calibration`` (backend.calibration.Calibration);
    its quality measures come from ``durations`` (key -> seconds of audio) and the raw
    embeddings of ``table`` (their norms)."""
    import numpy as np

    from bccmt_tools.backend.calibration import quality_features

    norms = dict(zip(table.keys, np.linalg.norm(table.matrix, axis=1).tolist()))
    quality = quality_features(calibration.measures, scored.enroll, scored.test, durations, norms, where,
                               enroll_spk2utt)
    return calibration.llr(scored.scores, quality, where)


def format_llr_decisions(scored, llrs, threshold=None):
    """``enroll test score llr [accept|reject]`` lines (decisions when ``threshold`` is given:
    accept when ``llr >= threshold``)."""
    lines = []
    for e, t, s, llr in zip(scored.enroll, scored.test, scored.scores.tolist(), llrs.tolist()):
        decision = "" if threshold is None else (" accept" if llr >= threshold else " reject")
        lines.append(f"{e} {t} {s:.6f} {llr:.4f}{decision}\n")
    return "".join(lines)
