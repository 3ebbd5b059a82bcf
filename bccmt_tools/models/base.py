"""The contract every speaker embedding model fulfils, and frame-mask helpers shared by all models.

Every model maps ``(feats [B, T, n_mels], lengths [B]) -> embeddings [B, D]`` and exposes
``forward_with_attention`` returning ``(embeddings, maps)`` where ``maps`` is a list over stages of
lists over blocks of softmax maps ``[B, heads, T_q, T_k]`` (empty for models without attention).

Padding convention: frames at or beyond ``lengths[b]`` are padding. Every operation that mixes
frames (temporal convolution, attention, pooling) sees padded frames as zeros or masks them, so a
padded batch gives the same embeddings as extracting each utterance alone.
"""

from typing import List, Tuple

import torch
from torch import Tensor, nn


class EmbeddingModel(nn.Module):
    """Base class of the registry's models; subclasses implement ``forward_with_attention``."""

    embedding_dim: int

    def forward(self, feats: Tensor, lengths: Tensor) -> Tensor:
        """Embeddings [B, D] for features [B, T, n_mels] with valid frame counts ``lengths`` [B]."""
        return self.forward_with_attention(feats, lengths)[0]

    def forward_with_attention(self, feats: Tensor, lengths: Tensor) -> Tuple[Tensor, List[List[Tensor]]]:
        raise NotImplementedError


def frame_mask(lengths: Tensor, num_frames: int, dtype: torch.dtype) -> Tensor:
    """Float mask [B, num_frames]: 1 on valid frames, 0 on padding.

    >>> frame_mask(torch.tensor([2, 3]), 3, torch.float32)
    tensor([[1., 1., 0.],
            [1., 1., 1.]])
    """
    positions = torch.arange(num_frames, device=lengths.device)
    return (positions.unsqueeze(0) < lengths.unsqueeze(1)).to(dtype)


def subsample_mask(mask: Tensor, stride: int) -> Tensor:
    """Mask after a time stride whose input was right-padded to ``ceil(T / stride) * stride``.

    Output frame i covers input frames [i*stride, (i+1)*stride); it is valid when its first input
    frame is, i.e. the valid count becomes ceil(length / stride).
    """
    if stride == 1:
        return mask
    return mask[:, ::stride]


def right_pad_time(x: Tensor, stride: int) -> Tensor:
    """Pad the last axis on the right with ``stride - 1`` zeros.

    A convolution with kernel = stride then yields ceil(T / stride) frames, the extra zeros never
    forming a window of their own; the pad amount does not depend on T, which keeps exported
    graphs valid for any length.
    """
    if stride == 1:
        return x
    return nn.functional.pad(x, (0, stride - 1))


def masked_mean_std(x: Tensor, mask: Tensor, eps: float = 1e-5) -> Tuple[Tensor, Tensor]:
    """Mean and standard deviation over the last axis of x [B, C, T], counting valid frames only."""
    weights = mask.unsqueeze(1)
    count = weights.sum(dim=-1, keepdim=True).clamp(min=1.0)
    mean = (x * weights).sum(dim=-1, keepdim=True) / count
    variance = ((x - mean).pow(2) * weights).sum(dim=-1, keepdim=True) / count
    return mean.squeeze(-1), variance.clamp(min=eps).sqrt().squeeze(-1)
