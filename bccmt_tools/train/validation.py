"""Validation while training: EER of a held-out trial list scored with cosine, every N epochs.

The held-out data dir (with ``feats.scp``; speakers not trained on) is read once; each
validation embeds its utterances whole with the model in eval mode (as ``extract-embeddings``
does) and scores the trial list with plain cosine. Global RNG states are restored afterwards, so
a run with validation trains exactly as one without it.
"""

from pathlib import Path

import numpy as np

from bccmt_tools.errors import BccmtError


class Validator:
    """``Validator(data_dir, trials_path, cmn)(model, device) -> {"val_eer": .., "val_min_dcf": ..}``.

    ``val_min_dcf`` is minDCF at P_target 0.01 (C_miss = C_fa = 1).
    """

    def __init__(self, data_dir, trials_path, cmn=True, batch_size=32):
        from bccmt_tools.io.kaldi_table import read_table
        from bccmt_tools.io.trials import read_trials

        feats_scp = Path(data_dir) / "feats.scp"
        if not feats_scp.is_file():
            raise BccmtError(f"validation.data: {feats_scp} is missing (compute fbank for {data_dir} first)")
        self.trials = read_trials(trials_path)
        if any(trial.label is None for trial in self.trials):
            raise BccmtError(f"validation.trials: {trials_path} has unlabelled trials; validation needs labels")
        needed = {key for trial in self.trials for key in (trial.enroll, trial.test)}
        self.feats = [(key, np.asarray(value, dtype=np.float32))
                      for key, value in read_table(f"scp:{feats_scp}") if key in needed]
        missing = needed - {key for key, _ in self.feats}
        if missing:
            raise BccmtError(f"validation.trials: {trials_path}: {len(missing)} utterance(s) are not in "
                             f"{feats_scp}, e.g. {sorted(missing)[0]!r}")
        self.where = str(feats_scp)
        self.trials_path = str(trials_path)
        self.cmn = cmn
        self.batch_size = batch_size

    def __call__(self, model, device="cpu"):
        from bccmt_tools.backend.embeddings import EmbeddingTable
        from bccmt_tools.backend.metrics import compute_eer, compute_min_dcf
        from bccmt_tools.backend.scoring import score_trials
        from bccmt_tools.embed.extract import ExtractionOptions, TorchEmbedder, extract_embeddings
        from bccmt_tools.train.rng import capture_rng_state, restore_rng_state

        rng_state = capture_rng_state()
        was_training = model.training
        try:
            embedder = TorchEmbedder(model, device)
            options = ExtractionOptions(batch_size=self.batch_size, cmn=self.cmn)
            pairs = list(extract_embeddings(self.feats, embedder, options, where=self.where))
        finally:
            model.train(was_training)
            restore_rng_state(rng_state)
        table = EmbeddingTable([key for key, _ in pairs], np.stack([emb for _, emb in pairs]), where=self.where)
        scored = score_trials(self.trials, table, table, "cosine", trials_where=self.trials_path)
        scores = np.asarray(scored.scores, dtype=np.float64)
        labels = np.asarray(scored.labels, dtype=np.int64)
        return {"val_eer": compute_eer(scores, labels).eer,
                "val_min_dcf": compute_min_dcf(scores, labels, 0.01).min_dcf}


def build_validator(config):
    """A :class:`Validator` from the config's ``validation`` section, or None when it names no data."""
    section = config.get("validation") or {}
    if not section.get("data"):
        return None
    if not section.get("trials"):
        raise BccmtError("validation.data is set but validation.trials is not (bccmt make-trials writes one)")
    from bccmt_tools.features.settings import parse_features

    _fbank, cmn = parse_features(config["features"], "train config")
    return Validator(section["data"], section["trials"], cmn=cmn)


def due(config, epoch):
    """True when validation runs after ``epoch`` (every ``validation.every_epochs`` and the last)."""
    every = int((config.get("validation") or {}).get("every_epochs", 1))
    return every > 0 and (epoch % every == 0 or epoch == int(config["trainer"]["epochs"]))
