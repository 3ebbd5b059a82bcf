"""Inverted residual feed-forward networks of the CMT block, on maps (B, C, F, T).

- ``BroadcastFeedForward`` (BC-IRFFN, proposed): the depthwise 3x3 of CMT is replaced by a
  broadcasted residual pair (frequency depthwise 3x1 + SSN, temporal depthwise 1x3 on the mean).
- ``DepthwiseFeedForward`` (CMT IRFFN, conventional): depthwise 3x3 with a residual.
Both return ``x + y``.
"""

from torch import Tensor, nn

from bccmt_tools.models.blocks import FrequencyDepthwise, TemporalBroadcast, mask_frames


def expand(channels: int, hidden: int) -> nn.Sequential:
    """1x1 expand + GELU + BN."""
    return nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.GELU(), nn.BatchNorm2d(hidden))


def project(hidden: int, channels: int) -> nn.Sequential:
    """GELU + BN, 1x1 project + BN."""
    return nn.Sequential(nn.GELU(), nn.BatchNorm2d(hidden), nn.Conv2d(hidden, channels, 1), nn.BatchNorm2d(channels))


class BroadcastFeedForward(nn.Module):
    """u = expand(x); z = SSN(freq-DW(u)); u = u + z + broadcast_F(1D path(mean_F z)); x + project(u)."""

    def __init__(self, channels: int, hidden: int, subbands: int, dropout: float):
        super().__init__()
        self.expand = expand(channels, hidden)
        self.frequency = FrequencyDepthwise(hidden, subbands)
        self.temporal = TemporalBroadcast(hidden, dropout, pointwise=False)
        self.project = project(hidden, channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        u = self.expand(x)
        z = self.frequency(u)
        t = self.temporal(mask_frames(z.mean(dim=2), mask))
        return x + self.project(u + z + t.unsqueeze(2))


class DepthwiseFeedForward(nn.Module):
    """CMT IRFFN: u = expand(x); u = u + DW3x3(u); x + project(u)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.expand = expand(channels, hidden)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.project = project(hidden, channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        u = self.expand(x)
        return x + self.project(u + self.depthwise(mask_frames(u, mask)))
