"""Checks of the training data that a speaker classifier needs before any step is taken.

>>> check_speakers([0, 0, 0], "data/train/utt2spk")
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: data/train/utt2spk: 1 speaker (3 utterances): training a speaker classifier needs at least 2 speakers (with one, every step has loss 0 and accuracy 1 and nothing is learned)
>>> check_speakers([0, 0, 1, 2, 2], "data/train/utt2spk")
'data/train/utt2spk: 1 of 3 speakers have fewer than 2 utterances (the classifier learns their recording, not their voice); drop them with bccmt filter-data-dir --min-utts-per-spk 2'
>>> check_speakers([0, 0, 1, 1], "data/train/utt2spk") is None
True
"""

from collections import Counter

from bccmt_tools.errors import BccmtError

MIN_SPEAKERS = 2
#: Below this many utterances a speaker draws a warning.
MIN_UTTS_PER_SPEAKER = 2


def check_speakers(labels, where):
    """Raise a one-line :class:`BccmtError` for fewer than :data:`MIN_SPEAKERS` speakers among the
    training ``labels`` (one class id per utterance); return a warning line (or None) when some
    speakers have fewer than :data:`MIN_UTTS_PER_SPEAKER` utterances."""
    counts = Counter(int(label) for label in labels)
    if len(counts) < MIN_SPEAKERS:
        noun = "speaker" if len(counts) == 1 else "speakers"
        raise BccmtError(f"{where}: {len(counts)} {noun} ({len(labels)} utterances): training a speaker "
                         f"classifier needs at least {MIN_SPEAKERS} speakers (with one, every step has loss 0 and "
                         f"accuracy 1 and nothing is learned)")
    few = sum(1 for count in counts.values() if count < MIN_UTTS_PER_SPEAKER)
    if few:
        return (f"{where}: {few} of {len(counts)} speakers have fewer than {MIN_UTTS_PER_SPEAKER} utterances "
                f"(the classifier learns their recording, not their voice); drop them with bccmt filter-data-dir "
                f"--min-utts-per-spk {MIN_UTTS_PER_SPEAKER}")
    return None


def check_feature_records(config, data_dir):
    """Refuse a resolved config whose ``features`` differ from the fbank record (see
    :mod:`bccmt_tools.features.record`) of the training data (``feats`` runs) or of
    ``validation.data``; data dirs without a record are not checked."""
    from bccmt_tools.features.record import check_features, read_fbank_record

    dirs = [("--data", data_dir)] if config["data"]["type"] == "feats" else []
    if (config.get("validation") or {}).get("data"):
        dirs.append(("validation.data", config["validation"]["data"]))
    for what, path in dirs:
        record = read_fbank_record(path)
        if record is not None:
            check_features(config["features"], record, f"train config (checked against the {what} features)")
