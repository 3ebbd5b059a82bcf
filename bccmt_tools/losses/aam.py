"""Additive angular margin softmax (ArcFace / AAM-softmax) and its margin warm-up schedule.

>>> import torch
>>> head = AAMSoftmax(embedding_dim=4, num_classes=3, margin=0.2, scale=30.0)
>>> loss, logits = head(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))
>>> logits.shape
torch.Size([5, 3])
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class AAMSoftmax(nn.Module):
    """Cosine classifier with an additive angular margin on the target class.

    ``logits = s * cos(theta_y + m)`` for the target and ``s * cos(theta_j)`` otherwise; the
    loss is cross-entropy on these logits. ``margin`` may be changed between steps
    (``set_margin``) for a margin warm-up. ``cosine_logits`` gives margin-free logits (scale
    applied), used for accuracy and logit-level distillation.
    """

    def __init__(self, embedding_dim, num_classes, margin=0.2, scale=30.0, easy_margin=False):
        super().__init__()
        self.embedding_dim = int(embedding_dim)
        self.num_classes = int(num_classes)
        self.scale = float(scale)
        self.easy_margin = bool(easy_margin)
        self.weight = nn.Parameter(torch.empty(self.num_classes, self.embedding_dim))
        nn.init.xavier_uniform_(self.weight)
        self.set_margin(margin)

    def set_margin(self, margin):
        self.margin = float(margin)
        self._cos_m = math.cos(self.margin)
        self._sin_m = math.sin(self.margin)
        # Past theta = pi - m, cos(theta + m) stops decreasing; use a linear extension there
        # (as in ArcFace) so that the target logit stays monotonic in theta.
        self._threshold = math.cos(math.pi - self.margin)
        self._fallback = math.sin(math.pi - self.margin) * self.margin

    def cosine(self, embeddings):
        """Cosine similarity ``[B, num_classes]`` between embeddings and class centres."""
        return F.linear(F.normalize(embeddings.float()), F.normalize(self.weight.float()))

    def cosine_logits(self, embeddings):
        """Margin-free logits ``scale * cos(theta)``."""
        return self.scale * self.cosine(embeddings)

    def forward(self, embeddings, labels):
        """Return ``(loss, margin-free logits)`` for embeddings ``[B, D]`` and labels ``[B]``."""
        cosine = self.cosine(embeddings)
        sine = torch.sqrt((1.0 - cosine * cosine).clamp(min=1e-7, max=1.0))
        with_margin = cosine * self._cos_m - sine * self._sin_m
        if self.easy_margin:
            with_margin = torch.where(cosine > 0, with_margin, cosine)
        else:
            with_margin = torch.where(cosine > self._threshold, with_margin, cosine - self._fallback)
        target = F.one_hot(labels, self.num_classes).to(cosine.dtype)
        logits = self.scale * (target * with_margin + (1.0 - target) * cosine)
        return F.cross_entropy(logits, labels), self.scale * cosine.detach()

    def extra_repr(self):
        return f"embedding_dim={self.embedding_dim}, num_classes={self.num_classes}, margin={self.margin}, scale={self.scale}"


class MarginSchedule:
    """Margin warm-up: 0 until ``start_epoch``, rising linearly to ``margin`` at ``end_epoch``.

    Epochs are fractional (``epoch + step_in_epoch / steps_per_epoch``), so the margin moves per
    iteration. With ``end_epoch <= start_epoch`` (the default 0, 0) the margin is constant.

    >>> schedule = MarginSchedule(0.2, start_epoch=1, end_epoch=3)
    >>> [round(schedule(e), 3) for e in (0.0, 1.0, 2.0, 3.0, 9.0)]
    [0.0, 0.0, 0.1, 0.2, 0.2]
    """

    def __init__(self, margin, start_epoch=0.0, end_epoch=0.0):
        self.margin = float(margin)
        self.start_epoch = float(start_epoch)
        self.end_epoch = float(end_epoch)

    def __call__(self, epoch):
        if self.end_epoch <= self.start_epoch:
            return self.margin if epoch >= self.start_epoch else 0.0
        progress = (epoch - self.start_epoch) / (self.end_epoch - self.start_epoch)
        return self.margin * min(max(progress, 0.0), 1.0)
