"""The training objective as one module: model + AAM classifier + distillation terms.

Wrapping everything that has trainable parameters in one ``nn.Module`` lets DDP see every
parameter in one forward; the frozen teacher's outputs come in as plain tensors. The objective
owns what a step needs besides the batch: the AAM margin schedule (:meth:`TrainObjective.start_step`),
what it wants from the teacher (:attr:`TrainObjective.teacher_request`), its trainable modules and
their checkpoint entries.
"""

import torch
from torch import nn

from bccmt_tools.errors import BccmtError
from bccmt_tools.losses.kd import AttentionKD, EmbeddingKD, LambdaWarmup, logit_kd_loss


class KDWeights:
    """The distillation weights of a config's ``kd`` section (attention weight with warm-up)."""

    def __init__(self, kd_config):
        attention = kd_config["attention"]
        self.attention = LambdaWarmup(attention["weight"], attention["warmup_epochs"])
        self.embedding = float(kd_config["embedding"]["weight"])
        self.logit = float(kd_config["logit"]["weight"])
        self.temperature = float(kd_config["logit"]["temperature"])

    @property
    def any(self):
        return self.attention.weight > 0 or self.embedding > 0 or self.logit > 0


class TrainObjective(nn.Module):
    """``forward(batch, epoch_progress, teacher_outputs) -> (total loss, terms dict, logits)``.

    ``terms`` holds every loss term unweighted (``aam``, ``kd_attention``, ``kd_embedding``,
    ``kd_logit``) plus the weights actually used, for logging.
    """

    def __init__(self, model, classifier, kd_config=None, teacher_embedding_dim=None, margin_schedule=None):
        super().__init__()
        self.model = model
        self.classifier = classifier
        self.margin_schedule = margin_schedule  # MarginSchedule, or None: the classifier's margin stays
        self.kd = KDWeights(kd_config) if kd_config is not None else None
        self.attention_kd = None
        self.embedding_kd = None
        if self.kd is not None:
            attention = kd_config["attention"]
            self.attention_kd = AttentionKD(attention["kind"], attention["last_only"], attention["resize_teacher"])
            if self.kd.embedding > 0:
                self.embedding_kd = EmbeddingKD(model.embedding_dim, teacher_embedding_dim)

    @property
    def wants_maps(self):
        return self.kd is not None and self.kd.attention.weight > 0

    @property
    def teacher_request(self):
        """Keyword arguments for :class:`~bccmt_tools.train.teacher.Teacher`: which outputs the loss uses."""
        return {"want_maps": self.wants_maps, "want_logits": self.kd is not None and self.kd.logit > 0}

    @property
    def margin(self):
        """The AAM margin in use."""
        return self.classifier.margin

    def start_step(self, epoch_progress):
        """Set what changes per step before the forward: the AAM margin of the schedule."""
        if self.margin_schedule is not None:
            self.classifier.set_margin(self.margin_schedule(epoch_progress))

    def trainable_modules(self):
        """The modules the optimizer trains: model, classifier, and the KD projection when there is one."""
        return [self.model, self.classifier] + ([self.embedding_kd] if self.embedding_kd is not None else [])

    def checkpoint_state(self):
        """``{"model", "classifier", "kd"}`` state dicts for a checkpoint ("kd" None without a projection)."""
        return {"model": self.model.state_dict(), "classifier": self.classifier.state_dict(),
                "kd": self.embedding_kd.state_dict() if self.embedding_kd is not None else None}

    def load_checkpoint_state(self, state):
        """Load what :meth:`checkpoint_state` saved (a checkpoint dict)."""
        self.model.load_state_dict(state["model"])
        self.classifier.load_state_dict(state["classifier"])
        if self.embedding_kd is not None and state.get("kd") is not None:
            self.embedding_kd.load_state_dict(state["kd"])

    def forward(self, feats, lengths, labels, epoch_progress=0.0, teacher=None):
        if self.wants_maps:
            embeddings, maps = self.model.forward_with_attention(feats, lengths)
        else:
            embeddings, maps = self.model(feats, lengths), None
        with torch.autocast(embeddings.device.type, enabled=False):  # the margin's trigonometry in float32
            aam, logits = self.classifier(embeddings.float(), labels)
        total = aam
        terms = {"aam": aam.detach()}
        if self.kd is not None:
            if teacher is None:
                raise BccmtError("distillation is configured but no teacher outputs were given")
            t_embeddings, t_maps, t_logits = teacher
            if self.wants_maps:
                weight = self.kd.attention(epoch_progress)
                loss = self.attention_kd(maps, t_maps)
                total = total + weight * loss
                terms["kd_attention"] = loss.detach()
                terms["w_attention"] = torch.tensor(weight)
            if self.embedding_kd is not None:
                loss = self.embedding_kd(embeddings, t_embeddings)
                total = total + self.kd.embedding * loss
                terms["kd_embedding"] = loss.detach()
            if self.kd.logit > 0:
                student_logits = self.classifier.cosine_logits(embeddings)
                loss = logit_kd_loss(student_logits, t_logits, self.kd.temperature)
                total = total + self.kd.logit * loss
                terms["kd_logit"] = loss.detach()
        terms["loss"] = total.detach()
        return total, terms, logits
