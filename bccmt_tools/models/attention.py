"""Self-attention of BC-CMT with key/value reduction and a learned relative position bias.

- ``TemporalBroadcastAttention`` (BC-LMHSA-1D, proposed): attention over time only, on the
  frequency mean of a broadcasted-residual 2D path; maps [B, h, T, ceil(T/k)] do not depend on the
  number of frequency bins or channels.
- ``FrequencyResolvedTemporalAttention`` (our variant of the proposed one): the same
  frequency-independent map from frequency-mean queries and keys, but values and the output
  projection per frequency bin, so each bin gets its own attended output.
- ``SpectroTemporalAttention`` (conventional, IS22): attention over F x T tokens; maps
  [B, h, F*T, ceil(F/k)*ceil(T/k)].

Padding: the K/V reduction convolution (kernel = stride = k) sees padded frames as zeros (they are
zeroed first, then the input is right-padded with k-1 zeros), so the last valid key of an
utterance covers the same frames and zeros as when it is computed alone; keys whose window starts
beyond the utterance are masked with -inf before the softmax.
"""

import math
from typing import Tuple

import torch
from torch import Tensor, nn

from bccmt_tools.models.base import right_pad_time, subsample_mask
from bccmt_tools.models.blocks import FrequencyDepthwise, mask_frames


def relative_offsets(num_queries: int, num_keys: int, ratio: int, clip: int, device: torch.device) -> Tensor:
    """Index table [T_q, T_k] of clip(floor(i / ratio) - j, -clip, clip) + clip.

    Any length works: offsets beyond the clip share the edge entry of the table.
    """
    queries = torch.div(torch.arange(num_queries, device=device), ratio, rounding_mode="floor")
    keys = torch.arange(num_keys, device=device)
    offsets = queries.unsqueeze(1) - keys.unsqueeze(0)
    return offsets.clamp(-clip, clip) + clip


class RelativePositionBias(nn.Module):
    """Learned bias per head and clipped relative offset: bias[h, i, j] = table[h, clip(i//k - j)]."""

    def __init__(self, heads: int, ratio: int, clip: int):
        super().__init__()
        self.ratio = ratio
        self.clip = clip
        self.table = nn.Parameter(torch.zeros(heads, 2 * clip + 1))

    def forward(self, num_queries: int, num_keys: int) -> Tensor:
        index = relative_offsets(num_queries, num_keys, self.ratio, self.clip, self.table.device)
        return self.table[:, index]


def attention_map(q: Tensor, k: Tensor, bias: Tensor, key_mask: Tensor) -> Tensor:
    """Softmax map [B,h,Tq,Tk] of q [B,h,Tq,d] against k [B,h,d,Tk] with bias [h,Tq,Tk];
    keys where key_mask [B,Tk] is 0 get no weight."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    logits = torch.matmul(q * scale, k) + bias.unsqueeze(0)
    # Training crops have no padding: skipping the fill then changes no value and saves a pass over
    # the map and its gradient (19% of a conventional Tiny training step at 2 s). Exported graphs always mask.
    if torch.jit.is_tracing() or not bool(key_mask.all()):
        logits = logits.masked_fill((key_mask == 0).unsqueeze(1).unsqueeze(1), float("-inf"))
    return torch.softmax(logits, dim=-1)


class _FrequencyMeanAttention(nn.Module):
    """What both 1D temporal attentions share: the BRL 2D path z, queries from its frequency mean s,
    the time-reduced keys' source r, and the map [B, h, T, ceil(T/k)]. A subclass adds its
    projections between :meth:`_start` and :meth:`_finish` (the order of the parameters is that of
    the released checkpoints)."""

    #: (layer, the BatchNorm right after it) attribute pairs that models.fuse folds at inference.
    FOLD_PAIRS = (("reduce", "reduce_norm"),)

    def _start(self, channels: int, heads: int, ratio: int, subbands: int, group_size: int):
        if channels % heads or channels % group_size:
            raise ValueError(f"channels {channels} must be divisible by heads {heads} and kv group size {group_size}")
        self.heads = heads
        self.ratio = ratio
        self.norm = nn.BatchNorm2d(channels)
        self.frequency = FrequencyDepthwise(channels, subbands)
        self.query = nn.Conv1d(channels, channels, 1)
        self.reduce = nn.Conv1d(channels, channels, ratio, stride=ratio, groups=channels // group_size, bias=False)
        self.reduce_norm = nn.BatchNorm1d(channels)

    def _finish(self, heads: int, ratio: int, clip: int, attention_dropout: float):
        self.bias = RelativePositionBias(heads, ratio, clip)
        self.dropout = nn.Dropout(attention_dropout)

    def _queries(self, x: Tensor, mask: Tensor):
        """``(z, s, q [B, h, T, d], reduced [B, C, Tk])`` of x [B, C, F, T]."""
        z = self.frequency(self.norm(x))
        s = z.mean(dim=2)
        b, c, t = s.shape
        q = self.query(s).reshape(b, self.heads, c // self.heads, t).transpose(-2, -1)
        reduced = self.reduce_norm(self.reduce(right_pad_time(mask_frames(s, mask), self.ratio)))
        return z, s, q, reduced

    def _map(self, q: Tensor, k: Tensor, mask: Tensor) -> Tensor:
        return attention_map(q, k, self.bias(q.shape[-2], k.shape[-1]), subsample_mask(mask, self.ratio))


class TemporalBroadcastAttention(_FrequencyMeanAttention):
    """BC-LMHSA-1D: returns ``(x + z + broadcast_F(o), map)`` for x [B, C, F, T].

    n = BN(x); z = SSN(freq-DW 3x1 (n)); s = mean_F(z); Q = 1x1(s);
    r = BN1d(group conv kernel=stride=k (s)); K, V = 1x1(r); o = 1x1(softmax(QK^T/sqrt(d) + B) V).
    """

    def __init__(self, channels: int, heads: int, ratio: int, subbands: int, group_size: int,
                 clip: int, attention_dropout: float = 0.0):
        super().__init__()
        self._start(channels, heads, ratio, subbands, group_size)
        self.key_value = nn.Conv1d(channels, 2 * channels, 1)
        self.output = nn.Conv1d(channels, channels, 1)
        self._finish(heads, ratio, clip, attention_dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        z, s, q, reduced = self._queries(x, mask)
        b, c, t = s.shape
        tk = reduced.shape[-1]
        k, v = self.key_value(reduced).reshape(b, 2, self.heads, c // self.heads, tk).unbind(1)
        weights = self._map(q, k, mask)
        out = torch.matmul(self.dropout(weights), v.transpose(-2, -1))
        o = self.output(out.transpose(-2, -1).reshape(b, c, t))
        return x + z + o.unsqueeze(2), weights


class FrequencyResolvedTemporalAttention(_FrequencyMeanAttention):
    """1D temporal attention with values per frequency bin: returns ``(x + z + o, map)``.

    n = BN(x); z = SSN(freq-DW 3x1 (n)); s = mean_F(z); Q = 1x1(s); K = 1x1(BN1d(group conv
    kernel=stride=k (s))) as in ``TemporalBroadcastAttention``, so the map [B, h, T, ceil(T/k)] is
    the same kind of object (frequency- and channel-independent, distillable). Values keep the
    frequency axis: V = 1x1(BN2d(group conv kernel=stride=(1, k) (z))) [B, C, F, ceil(T/k)]; each
    bin f is attended with the shared map, o = 1x1(A V_f), a C x F x T output instead of a C x T one
    broadcast over F.
    """

    #: (layer, the BatchNorm right after it) attribute pairs that models.fuse folds at inference.
    FOLD_PAIRS = (("reduce", "reduce_norm"), ("value_reduce", "value_norm"))

    def __init__(self, channels: int, heads: int, ratio: int, subbands: int, group_size: int,
                 clip: int, attention_dropout: float = 0.0):
        super().__init__()
        self._start(channels, heads, ratio, subbands, group_size)
        self.key = nn.Conv1d(channels, channels, 1)
        self.value_reduce = nn.Conv2d(channels, channels, (1, ratio), stride=(1, ratio),
                                      groups=channels // group_size, bias=False)
        self.value_norm = nn.BatchNorm2d(channels)
        self.value = nn.Conv2d(channels, channels, 1)
        self.output = nn.Conv2d(channels, channels, 1)
        self._finish(heads, ratio, clip, attention_dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        z, s, q, reduced = self._queries(x, mask)
        b, c, f, t = z.shape
        d = c // self.heads
        tk = reduced.shape[-1]
        weights = self._map(q, self.key(reduced).reshape(b, self.heads, d, tk), mask)
        values = self.value(self.value_norm(self.value_reduce(right_pad_time(mask_frames(z, mask), self.ratio))))
        # [B, h, d, F, Tk] -> [B, h, d*F, Tk]: one matmul attends every bin with the shared map
        v = values.reshape(b, self.heads, d * f, tk)
        out = torch.matmul(self.dropout(weights), v.transpose(-2, -1))  # [B, h, T, d*F]
        o = self.output(out.transpose(-2, -1).reshape(b, c, f, t))
        return x + z + o, weights


#: The attentions whose maps are [B, h, T, ceil(T/k)] over time only (distillable across widths).
TEMPORAL_ATTENTIONS = (TemporalBroadcastAttention, FrequencyResolvedTemporalAttention)


class SpectroTemporalAttention(nn.Module):
    """Conventional 2D LMHSA over F x T tokens: returns ``(x + o, map)`` for x [B, C, F, T].

    K/V come from a depthwise k x k stride-k conv + BN of the normalised map (F and T right-padded
    to multiples of k). The relative bias is separable: table_T[h, clip(t_i//k - t_j)] +
    table_F[h, clip(f_i//k - f_j)].
    """

    #: (layer, the BatchNorm right after it) attribute pairs that models.fuse folds at inference.
    FOLD_PAIRS = (("reduce", "reduce_norm"),)

    def __init__(self, channels: int, heads: int, ratio: int, clip: int, attention_dropout: float = 0.0):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels {channels} must be divisible by heads {heads}")
        self.heads = heads
        self.ratio = ratio
        self.norm = nn.BatchNorm2d(channels)
        self.query = nn.Conv2d(channels, channels, 1)
        self.reduce = nn.Conv2d(channels, channels, ratio, stride=ratio, groups=channels, bias=False)
        self.reduce_norm = nn.BatchNorm2d(channels)
        self.key_value = nn.Conv2d(channels, 2 * channels, 1)
        self.output = nn.Conv2d(channels, channels, 1)
        self.time_bias = RelativePositionBias(heads, ratio, clip)
        self.freq_bias = RelativePositionBias(heads, ratio, clip)
        self.dropout = nn.Dropout(attention_dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        n = self.norm(x)
        b, c, f, t = n.shape
        d = c // self.heads
        q = self.query(n).reshape(b, self.heads, d, f * t).transpose(-2, -1)
        padded = mask_frames(n, mask)
        if self.ratio > 1:
            padded = nn.functional.pad(padded, (0, self.ratio - 1, 0, self.ratio - 1))
        reduced = self.reduce_norm(self.reduce(padded))
        fk, tk = reduced.shape[-2], reduced.shape[-1]
        k, v = self.key_value(reduced).reshape(b, 2, self.heads, d, fk * tk).unbind(1)
        bias = (self.freq_bias(f, fk).unsqueeze(2).unsqueeze(4)
                + self.time_bias(t, tk).unsqueeze(1).unsqueeze(3)).reshape(self.heads, f * t, fk * tk)
        key_mask = subsample_mask(mask, self.ratio).unsqueeze(1).expand(b, fk, tk).reshape(b, fk * tk)
        weights = attention_map(q, k, bias, key_mask)
        out = torch.matmul(self.dropout(weights), v.transpose(-2, -1))
        o = self.output(out.transpose(-2, -1).reshape(b, c, f, t))
        return x + o, weights
