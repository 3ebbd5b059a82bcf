"""Convolutional building blocks of BC-CMT: SubSpectralNorm, broadcasted residual (BRL) blocks, the
local perception unit, the stem and the patch embeddings. Feature maps are laid out (B, C, F, T);
``mask`` is the float frame mask [B, T] of the current time resolution (see ``base.py``).
"""

from torch import Tensor, nn

from bccmt_tools.models.base import right_pad_time


def mask_frames(x: Tensor, mask: Tensor) -> Tensor:
    """Zero padded frames of x [B, C, F, T] or [B, C, T] (the last axis is time)."""
    if x.dim() == 4:
        return x * mask.unsqueeze(1).unsqueeze(1)
    return x * mask.unsqueeze(1)


class SubSpectralNorm(nn.Module):
    """BatchNorm with separate statistics per frequency sub-band (Chang et al., 2021).

    (B, C, F, T) -> (B, C*S, F/S, T) -> BatchNorm2d -> (B, C, F, T); F must be divisible by S.
    """

    def __init__(self, channels: int, subbands: int = 5):
        super().__init__()
        self.subbands = subbands
        self.norm = nn.BatchNorm2d(channels * subbands)

    def forward(self, x: Tensor) -> Tensor:
        b, c, f, t = x.shape
        y = self.norm(x.reshape(b, c * self.subbands, f // self.subbands, t))
        return y.reshape(b, c, f, t)


class FrequencyDepthwise(nn.Module):
    """Depthwise 3x1 convolution over frequency followed by SubSpectralNorm (the BRL 2D path)."""

    def __init__(self, channels: int, subbands: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0), groups=channels, bias=False)
        self.norm = SubSpectralNorm(channels, subbands)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


class TemporalBroadcast(nn.Module):
    """The BRL 1D path on a frequency-averaged map s [B, C, T]:
    depthwise 1x3 over time, BN, SiLU, 1x1 conv, channel dropout. Padded frames of s must be zero.
    """

    #: (layer, the BatchNorm right after it) attribute pairs that models.fuse folds at inference.
    FOLD_PAIRS = (("conv", "norm"),)

    def __init__(self, channels: int, dropout: float, pointwise: bool = True):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.norm = nn.BatchNorm1d(channels)
        self.act = nn.SiLU()
        self.pointwise = nn.Conv1d(channels, channels, 1, bias=False) if pointwise else nn.Identity()
        self.dropout = nn.Dropout1d(dropout)

    def forward(self, s: Tensor) -> Tensor:
        return self.dropout(self.pointwise(self.act(self.norm(self.conv(s)))))


class BroadcastedResidualBlock(nn.Module):
    """BC-ResNet block: y = ReLU(x + f2 + broadcast_F(f1)), f2 = SSN(freq-DW(x)), f1 = 1D path of mean_F(f2).

    With ``in_channels != out_channels`` it is a transition block: a 1x1 conv + BN + ReLU first and
    no identity path.
    """

    def __init__(self, in_channels: int, out_channels: int, subbands: int, dropout: float):
        super().__init__()
        self.transition = in_channels != out_channels
        if self.transition:
            self.project = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()
            )
        else:
            self.project = nn.Identity()
        self.frequency = FrequencyDepthwise(out_channels, subbands)
        self.temporal = TemporalBroadcast(out_channels, dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.project(x)
        f2 = self.frequency(h)
        f1 = self.temporal(mask_frames(f2.mean(dim=2), mask))
        out = f2 + f1.unsqueeze(2)
        if not self.transition:
            out = out + x
        return nn.functional.relu(out)


class LocalPerceptionUnit(nn.Module):
    """CMT's LPU: x + depthwise 3x3 conv(x), with padded frames zeroed before the conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return x + self.conv(mask_frames(x, mask))


class Stem(nn.Module):
    """conv 3x3 (stride (2, 1)), BN, ReLU, then ``num_blocks`` BRL blocks."""

    #: (layer, the BatchNorm right after it) attribute pairs that models.fuse folds at inference.
    FOLD_PAIRS = (("conv", "norm"),)

    def __init__(self, channels: int, subbands: int, dropout: float, num_blocks: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.norm = nn.BatchNorm2d(channels)
        self.blocks = nn.ModuleList(
            [BroadcastedResidualBlock(channels, channels, subbands, dropout) for _ in range(num_blocks)]
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = nn.functional.relu(self.norm(self.conv(mask_frames(x, mask))))
        for block in self.blocks:
            x = block(x, mask)
        return x


class PatchEmbedding(nn.Module):
    """Conv with kernel = stride = (s_F, s_T) and BN; time is right-padded so T' = ceil(T / s_T)."""

    #: (layer, the BatchNorm right after it) attribute pairs that models.fuse folds at inference.
    FOLD_PAIRS = (("conv", "norm"),)

    def __init__(self, in_channels: int, out_channels: int, freq_stride: int, time_stride: int):
        super().__init__()
        self.time_stride = time_stride
        stride = (freq_stride, time_stride)
        self.conv = nn.Conv2d(in_channels, out_channels, stride, stride=stride, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.time_stride > 1:
            x = right_pad_time(mask_frames(x, mask), self.time_stride)
        return self.norm(self.conv(x))
