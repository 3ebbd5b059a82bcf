"""Pooling layers turning frame-level maps into utterance vectors, with frame masks.

- ``AttentiveStatisticsPooling`` (ECAPA-TDNN style, channel-dependent, optional global context):
  [B, C, T] -> [B, 2C].
- ``FrequencyStatisticsAttentivePooling`` (FSD-ASP of BC-CMT): attention over frequency per frame,
  weighted mean and std over F, then attentive statistics over time: [B, C, F, T] -> [B, 4C].
- ``TemporalStatisticsPooling``: masked mean and std over time: [B, C, T] -> [B, 2C].
"""

import torch
from torch import Tensor, nn

from bccmt_tools.models.base import masked_mean_std


class TemporalStatisticsPooling(nn.Module):
    """Mean and standard deviation over valid frames."""

    def __init__(self, channels: int):
        super().__init__()
        self.output_dim = 2 * channels

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        mean, std = masked_mean_std(x, mask)
        return torch.cat([mean, std], dim=1)


class AttentiveStatisticsPooling(nn.Module):
    """Channel-dependent attentive statistics (Desplanques et al., 2020).

    Attention logits = Conv1d(b->C)(tanh(BN(ReLU(Conv1d(C' -> b)(h'))))), where h' is h, or h
    concatenated with its (masked) utterance mean and std when ``global_context``; softmax over
    valid frames; output = [weighted mean, weighted std].
    """

    def __init__(self, channels: int, bottleneck: int, global_context: bool = True):
        super().__init__()
        self.global_context = global_context
        in_channels = 3 * channels if global_context else channels
        self.attention = nn.Sequential(
            nn.Conv1d(in_channels, bottleneck, 1), nn.ReLU(), nn.BatchNorm1d(bottleneck), nn.Tanh(),
            nn.Conv1d(bottleneck, channels, 1),
        )
        self.output_dim = 2 * channels

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.global_context:
            mean, std = masked_mean_std(x, mask)
            t = x.shape[-1]
            context = torch.cat([x, mean.unsqueeze(-1).expand(-1, -1, t), std.unsqueeze(-1).expand(-1, -1, t)], dim=1)
        else:
            context = x
        logits = self.attention(context).masked_fill((mask == 0).unsqueeze(1), float("-inf"))
        weights = torch.softmax(logits, dim=-1)
        mean = (weights * x).sum(dim=-1)
        variance = (weights * x * x).sum(dim=-1) - mean * mean
        return torch.cat([mean, variance.clamp(min=1e-5).sqrt()], dim=1)


class FrequencyStatisticsAttentivePooling(nn.Module):
    """FSD-ASP: w = softmax_F(1x1(C/r -> C)(tanh(1x1(C -> C/r)(x)))); per frame the w-weighted mean and
    std over F give [B, 2C, T]; attentive statistics pooling over time gives [B, 4C]."""

    def __init__(self, channels: int, bottleneck: int, reduction: int = 4, global_context: bool = True):
        super().__init__()
        self.frequency_attention = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1), nn.Tanh(), nn.Conv2d(channels // reduction, channels, 1)
        )
        self.temporal = AttentiveStatisticsPooling(2 * channels, bottleneck, global_context)
        self.output_dim = 4 * channels

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        weights = torch.softmax(self.frequency_attention(x), dim=2)
        mean = (weights * x).sum(dim=2)
        variance = (weights * x * x).sum(dim=2) - mean * mean
        frames = torch.cat([mean, variance.clamp(min=1e-5).sqrt()], dim=1)
        return self.temporal(frames, mask)
