"""The frozen teacher of a distillation run, loaded from its own experiment directory."""

from pathlib import Path

import torch

from bccmt_tools.errors import BccmtError
from bccmt_tools.losses.aam import AAMSoftmax
from bccmt_tools.io.expdir import config_path, default_checkpoint
from bccmt_tools.models.experiment import load_experiment

# Fbank options that change what the model sees; dither only adds training noise.
_FEATURE_KEYS_IGNORED = {"dither"}


def check_features_match(student_features, teacher_features, teacher_dir):
    """The teacher sees the student's batch, so both must expect the same features."""
    keys = (set(student_features) | set(teacher_features)) - _FEATURE_KEYS_IGNORED
    differing = sorted(key for key in keys if student_features.get(key) != teacher_features.get(key))
    if differing:
        details = ", ".join(f"{key}: student {student_features.get(key)!r} vs teacher {teacher_features.get(key)!r}"
                            for key in differing)
        raise BccmtError(f"{teacher_dir}/config.yaml: the teacher was trained on different features ({details}); "
                         f"it cannot be fed the student's batches")


def frozen(model, fuse=True):
    """``model`` ready to teach: eval mode, no gradients, and (``fuse``) its BatchNorms folded into
    the neighbouring layers (same function up to float rounding, fewer operations per step)."""
    if fuse:
        from bccmt_tools.models.fuse import fuse_for_inference

        model = fuse_for_inference(model)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


class Teacher:
    """A frozen model (eval mode, no gradients) with its classifier when the checkpoint has one.

    ``classifier`` is None unless the checkpoint holds one and its speaker map equals the
    student's (``spk2id``); ``classifier_problem`` then says why logit KD is unavailable.
    ``fuse`` folds the teacher's BatchNorms (``kd.fuse_teacher``); ``compile`` runs its forward
    through ``torch.compile`` (``trainer.compile``).
    """

    def __init__(self, exp_dir, device, student_features, spk2id=None, fuse=True, compile=False):
        self.exp_dir = Path(exp_dir)
        if not config_path(self.exp_dir).is_file():
            raise BccmtError(f"{config_path(self.exp_dir)}: not found (is {self.exp_dir} a trained experiment?)")
        self.checkpoint_path = default_checkpoint(self.exp_dir)
        self.model, self.config, state, _path = load_experiment(self.exp_dir, self.checkpoint_path, device)
        check_features_match(student_features, self.config.get("features") or {}, self.exp_dir)
        self.model = frozen(self.model, fuse=fuse)
        self._forward_with_attention = self.model.forward_with_attention
        self._forward = self.model
        if compile:
            self._forward_with_attention = torch.compile(self.model.forward_with_attention)
            self._forward = torch.compile(self.model)
        self.classifier, self.classifier_problem = self._load_classifier(state, device, spk2id)

    def _load_classifier(self, state, device, spk2id):
        """The frozen classifier of the checkpoint dict ``state`` (already read with the model)."""
        if state.get("classifier") is None:
            return None, f"{self.checkpoint_path} holds no classifier"
        if spk2id is not None and state.get("spk2id") != spk2id:
            return None, (f"the teacher's speaker map ({len(state.get('spk2id') or {})} speakers, "
                          f"{self.checkpoint_path}) differs from the student's ({len(spk2id)} speakers); "
                          f"logit KD needs the same training speakers")
        weight = state["classifier"]["weight"]
        loss = self.config.get("loss") or {}
        classifier = AAMSoftmax(weight.shape[1], weight.shape[0], margin=loss.get("margin", 0.2),
                                scale=loss.get("scale", 30.0))
        classifier.load_state_dict(state["classifier"])
        classifier.to(device).eval()
        for param in classifier.parameters():
            param.requires_grad_(False)
        return classifier, None

    @property
    def embedding_dim(self):
        return int(self.model.embedding_dim)

    @torch.no_grad()
    def __call__(self, feats, lengths, want_maps=True, want_logits=False):
        """``(embeddings, maps or None, logits or None)`` of the teacher on a batch."""
        if want_maps:
            embeddings, maps = self._forward_with_attention(feats, lengths)
        else:
            embeddings, maps = self._forward(feats, lengths), None
        logits = self.classifier.cosine_logits(embeddings) if want_logits else None
        return embeddings, maps, logits
