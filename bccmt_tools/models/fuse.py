"""Inference-time BatchNorm folding: a copy of a model in eval mode where every BatchNorm that
directly follows a convolution / linear layer, or directly precedes an unpadded 1x1 convolution /
linear layer, is folded into that layer's weights and bias. The result computes the same function
(up to float rounding) with fewer operations.

Inside an ``nn.Sequential`` the pairs are found by position. Elsewhere each module class declares
its own: ``FOLD_PAIRS = (("conv", "norm"), ...)``, (layer attribute, attribute of the BatchNorm
that follows it); a new model needs no edit here.

>>> from bccmt_tools.models import build_model
>>> _ = torch.manual_seed(0)
>>> model = build_model({"model": "bccmt", "model_conf": {"size": "tiny"}}).eval()
>>> feats, lengths = torch.randn(2, 120, 80), torch.tensor([120, 90])
>>> fused = fuse_for_inference(model)
>>> bool(torch.allclose(fused(feats, lengths), model(feats, lengths), atol=1e-4))
True
"""

import copy
from typing import Tuple

import torch
from torch import nn


LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _norm_affine(norm: nn.modules.batchnorm._BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with norm(x) = x * scale + shift per channel, in eval mode."""
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.affine:
        scale = scale * norm.weight
        shift = norm.bias - norm.running_mean * scale
    else:
        shift = -norm.running_mean * scale
    return scale, shift


def _ensure_bias(layer: nn.Module) -> torch.Tensor:
    if layer.bias is None:
        layer.bias = nn.Parameter(torch.zeros(layer.weight.shape[0], dtype=layer.weight.dtype,
                                              device=layer.weight.device))
    return layer.bias


@torch.no_grad()
def fold_norm_after(layer: nn.Module, norm: nn.Module) -> None:
    """layer := norm(layer(.)) for a conv/linear layer followed by BatchNorm."""
    scale, shift = _norm_affine(norm)
    bias = _ensure_bias(layer)
    layer.weight.mul_(scale.reshape((-1,) + (1,) * (layer.weight.dim() - 1)))
    bias.copy_(bias * scale + shift)


def _is_unpadded_pointwise(layer: nn.Module) -> bool:
    if isinstance(layer, nn.Linear):
        return True
    return (isinstance(layer, (nn.Conv1d, nn.Conv2d)) and layer.groups == 1
            and all(k == 1 for k in layer.kernel_size) and all(p == 0 for p in layer.padding))


@torch.no_grad()
def fold_norm_before(norm: nn.Module, layer: nn.Module) -> None:
    """layer := layer(norm(.)) for BatchNorm followed by a 1x1 conv / linear layer without padding."""
    scale, shift = _norm_affine(norm)
    bias = _ensure_bias(layer)
    weight = layer.weight.reshape(layer.weight.shape[0], layer.weight.shape[1])
    bias.add_(weight @ shift)
    layer.weight.mul_(scale.reshape((1, -1) + (1,) * (layer.weight.dim() - 2)))


def _fuse_sequential(sequence: nn.Sequential) -> None:
    items = list(sequence)
    for index in range(len(items) - 1):
        first, second = items[index], items[index + 1]
        if isinstance(first, LAYERS) and isinstance(second, NORMS):
            fold_norm_after(first, second)
            items[index + 1] = nn.Identity()
    for index in range(len(items) - 1):
        first, second = items[index], items[index + 1]
        if isinstance(first, NORMS) and _is_unpadded_pointwise(second):
            fold_norm_before(first, second)
            items[index] = nn.Identity()
    kept = [item for item in items if not isinstance(item, nn.Identity)] or [nn.Identity()]
    for name in list(sequence._modules):
        del sequence._modules[name]
    for position, item in enumerate(kept):
        sequence.add_module(str(position), item)


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with BatchNorms folded into neighbouring layers."""
    fused = copy.deepcopy(model).eval()
    for module in list(fused.modules()):
        for layer_name, norm_name in getattr(type(module), "FOLD_PAIRS", ()):
            norm = getattr(module, norm_name)
            if isinstance(norm, NORMS):
                fold_norm_after(getattr(module, layer_name), norm)
                setattr(module, norm_name, nn.Identity())
        if isinstance(module, nn.Sequential):
            _fuse_sequential(module)
    return fused
