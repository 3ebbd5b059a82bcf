"""ResNet34 baseline for speaker verification (r-vector style, as in WeSpeaker/Zeinali et al. 2019),
written from the papers: 2D ResNet with BasicBlocks [3, 4, 6, 3] and 32 base channels over the
(F, T) fbank map, temporal statistics pooling of the F-flattened output, a 256-d linear embedding.
About 6.6M parameters. Padded frames are zeroed before every 3x3 conv; stride-2 convs halve the
valid length to ceil(L / 2).
"""

import dataclasses
from typing import List, Tuple

import torch
from torch import Tensor, nn

from bccmt_tools.models.base import EmbeddingModel, frame_mask, subsample_mask
from bccmt_tools.models.blocks import mask_frames
from bccmt_tools.models.pooling import TemporalStatisticsPooling


@dataclasses.dataclass
class ResNetConfig:
    """Options of ``model: resnet``."""

    n_mels: int = 80
    base_channels: int = 32
    blocks: List[int] = dataclasses.field(default_factory=lambda: [3, 4, 6, 3])   # ResNet34
    embedding_dim: int = 256
    second_embedding_layer: bool = False   # BN + ReLU + Linear(D, D) after the first projection

    def resolved(self) -> "ResNetConfig":
        if len(self.blocks) != 4:
            raise ValueError(f"blocks must list 4 stages, got {self.blocks}")
        if self.n_mels % 8:
            raise ValueError(f"n_mels {self.n_mels} must be divisible by 8 (three stride-2 stages)")
        return self


class BasicBlock(nn.Module):
    """conv3x3 (stride) + BN + ReLU, conv3x3 + BN, plus the (projected) shortcut, ReLU."""

    #: (layer, the BatchNorm right after it) attribute pairs that models.fuse folds at inference.
    FOLD_PAIRS = (("conv1", "norm1"), ("conv2", "norm2"))

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        h = torch.relu(self.norm1(self.conv1(mask_frames(x, mask))))
        mask = subsample_mask(mask, self.stride)
        h = self.norm2(self.conv2(mask_frames(h, mask)))
        return torch.relu(h + self.shortcut(x)), mask


class ResNet(EmbeddingModel):
    """ResNet speaker embedding extractor; ``forward_with_attention`` returns no maps."""

    #: (layer, the BatchNorm right after it) attribute pairs that models.fuse folds at inference.
    FOLD_PAIRS = (("conv_in", "norm_in"),)

    def __init__(self, config: ResNetConfig):
        super().__init__()
        self.config = config
        self.embedding_dim = config.embedding_dim
        c = config.base_channels
        self.conv_in = nn.Conv2d(1, c, 3, padding=1, bias=False)
        self.norm_in = nn.BatchNorm2d(c)
        blocks = []
        in_channels = c
        for stage, count in enumerate(config.blocks):
            out_channels = c * 2 ** stage
            for index in range(count):
                blocks.append(BasicBlock(in_channels, out_channels, 2 if stage > 0 and index == 0 else 1))
                in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.pooling = TemporalStatisticsPooling(in_channels * (config.n_mels // 8))
        layers: List[nn.Module] = [nn.Linear(self.pooling.output_dim, config.embedding_dim)]
        if config.second_embedding_layer:
            layers += [nn.BatchNorm1d(config.embedding_dim), nn.ReLU(), nn.Linear(config.embedding_dim, config.embedding_dim)]
        self.embedding = nn.Sequential(*layers)

    def forward_with_attention(self, feats: Tensor, lengths: Tensor) -> Tuple[Tensor, List[List[Tensor]]]:
        mask = frame_mask(lengths, feats.shape[1], feats.dtype)
        x = feats.transpose(1, 2).unsqueeze(1)
        x = torch.relu(self.norm_in(self.conv_in(mask_frames(x, mask))))
        for block in self.blocks:
            x, mask = block(x, mask)
        maps: List[List[Tensor]] = []
        return self.embedding(self.pooling(x.flatten(1, 2), mask)), maps
