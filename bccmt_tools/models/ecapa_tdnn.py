"""ECAPA-TDNN baseline (Desplanques, Thienpondt, Demuynck, Interspeech 2020), written from the paper.

Conv1D(k=5) + ReLU + BN, three SE-Res2Blocks (k=3, dilation 2, 3, 4, scale 8, SE bottleneck 128),
multi-layer feature aggregation (1x1 conv of the concatenated block outputs to 1536 channels),
attentive statistics pooling with global context, BN, Linear to 192, BN. C=512 has about 6.2M
parameters, C=1024 about 14.7M. Padded frames are zeroed before every temporal convolution, and
the SE means and the pooling are masked, so padded batches equal one-by-one extraction.
"""

import dataclasses
from typing import List, Tuple

import torch
from torch import Tensor, nn

from bccmt_tools.models.base import EmbeddingModel, frame_mask
from bccmt_tools.models.blocks import mask_frames
from bccmt_tools.models.pooling import AttentiveStatisticsPooling


@dataclasses.dataclass
class EcapaConfig:
    """Options of ``model: ecapa_tdnn``."""

    n_mels: int = 80
    channels: int = 512                 # C: 512 or 1024 in the paper
    mfa_channels: int = 1536
    scale: int = 8                      # Res2Net scale
    dilations: List[int] = dataclasses.field(default_factory=lambda: [2, 3, 4])
    se_bottleneck: int = 128
    attention_bottleneck: int = 128
    global_context: bool = True
    embedding_dim: int = 192

    def resolved(self) -> "EcapaConfig":
        if self.channels % self.scale:
            raise ValueError(f"channels {self.channels} must be divisible by scale {self.scale}")
        return self


class ConvReluNorm(nn.Module):
    """Conv1d + ReLU + BN; zeroes padded frames first when the kernel spans several frames."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__()
        self.temporal = kernel_size > 1
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.norm = nn.BatchNorm1d(out_channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.temporal:
            x = mask_frames(x, mask)
        return self.norm(torch.relu(self.conv(x)))


class Res2Conv(nn.Module):
    """Res2Net dilated conv: split channels into ``scale`` groups; y_1 = x_1, y_i = K_i(x_i + y_{i-1})."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, scale: int):
        super().__init__()
        self.scale = scale
        width = channels // scale
        self.convs = nn.ModuleList([ConvReluNorm(width, width, kernel_size, dilation) for _ in range(scale - 1)])

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        parts = torch.chunk(x, self.scale, dim=1)
        outputs = [parts[0]]
        y = parts[1]
        for index, conv in enumerate(self.convs):
            y = conv(parts[index + 1] if index == 0 else parts[index + 1] + y, mask)
            outputs.append(y)
        return torch.cat(outputs, dim=1)


class SqueezeExcitation(nn.Module):
    """Channel gates from the masked utterance mean."""

    def __init__(self, channels: int, bottleneck: int):
        super().__init__()
        self.squeeze = nn.Conv1d(channels, bottleneck, 1)
        self.excite = nn.Conv1d(bottleneck, channels, 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        weights = mask.unsqueeze(1)
        mean = (x * weights).sum(dim=-1, keepdim=True) / weights.sum(dim=-1, keepdim=True).clamp(min=1.0)
        return x * torch.sigmoid(self.excite(torch.relu(self.squeeze(mean))))


class SERes2Block(nn.Module):
    """1x1 conv, Res2 dilated conv, 1x1 conv, SE, plus the residual."""

    def __init__(self, channels: int, dilation: int, scale: int, se_bottleneck: int):
        super().__init__()
        self.conv_in = ConvReluNorm(channels, channels)
        self.res2 = Res2Conv(channels, 3, dilation, scale)
        self.conv_out = ConvReluNorm(channels, channels)
        self.se = SqueezeExcitation(channels, se_bottleneck)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        y = self.conv_out(self.res2(self.conv_in(x, mask), mask), mask)
        return x + self.se(y, mask)


class EcapaTdnn(EmbeddingModel):
    """ECAPA-TDNN embedding extractor; ``forward_with_attention`` returns no maps."""

    def __init__(self, config: EcapaConfig):
        super().__init__()
        self.config = config
        self.embedding_dim = config.embedding_dim
        c = config.channels
        self.conv_in = ConvReluNorm(config.n_mels, c, kernel_size=5)
        self.blocks = nn.ModuleList([SERes2Block(c, d, config.scale, config.se_bottleneck) for d in config.dilations])
        self.aggregate = ConvReluNorm(c * len(config.dilations), config.mfa_channels)
        self.pooling = AttentiveStatisticsPooling(config.mfa_channels, config.attention_bottleneck, config.global_context)
        pooled = self.pooling.output_dim
        self.embedding = nn.Sequential(nn.BatchNorm1d(pooled), nn.Linear(pooled, config.embedding_dim),
                                       nn.BatchNorm1d(config.embedding_dim))

    def forward_with_attention(self, feats: Tensor, lengths: Tensor) -> Tuple[Tensor, List[List[Tensor]]]:
        mask = frame_mask(lengths, feats.shape[1], feats.dtype)
        x = self.conv_in(feats.transpose(1, 2), mask)
        outputs: List[Tensor] = []
        for block in self.blocks:
            x = block(x, mask)
            outputs.append(x)
        x = self.aggregate(torch.cat(outputs, dim=1), mask)
        maps: List[List[Tensor]] = []
        return self.embedding(self.pooling(x, mask)), maps


__all__ = ["EcapaConfig", "EcapaTdnn"]
