"""Optimisers with parameter groups: no weight decay on norms, biases and position tables.

>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
>>> decay, no_decay = split_decay_parameters(model)
>>> [name for name, _ in decay], sorted(name for name, _ in no_decay)
(['0.weight'], ['0.bias', '1.bias', '1.weight'])
"""

import torch
from torch import nn

from bccmt_tools.errors import BccmtError

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
# Substrings of parameter names that mark position tables / embeddings (learned biases).
POSITION_NAME_HINTS = ("pos", "rel_bias", "relative", "table")


def _is_no_decay(module, param_name, param, model_no_decay, full_name):
    if full_name in model_no_decay:
        return True
    if isinstance(module, _NORM_TYPES) or param_name.endswith("bias"):
        return True
    if param.ndim <= 1:  # gains, scales and other vectors
        return True
    return any(hint in full_name.lower() for hint in POSITION_NAME_HINTS)


def split_decay_parameters(*modules):
    """Return ``(decay, no_decay)`` lists of ``(name, parameter)`` over the given modules.

    A module may also list names with a ``no_weight_decay()`` method (timm convention).
    """
    decay, no_decay, seen = [], [], set()
    for index, root in enumerate(modules):
        prefix = f"{index}." if len(modules) > 1 else ""
        listed = set(root.no_weight_decay()) if hasattr(root, "no_weight_decay") else set()
        for module_name, module in root.named_modules():
            for param_name, param in module.named_parameters(recurse=False):
                if not param.requires_grad or id(param) in seen:
                    continue
                seen.add(id(param))
                full_name = f"{module_name}.{param_name}" if module_name else param_name
                target = no_decay if _is_no_decay(module, param_name, param, listed, full_name) else decay
                target.append((prefix + full_name, param))
    return decay, no_decay


def build_optimizer(config, *modules):
    """Optimiser from the ``optim`` config section over the parameters of ``modules``."""
    decay, no_decay = split_decay_parameters(*modules)
    groups = [
        {"params": [p for _, p in decay], "weight_decay": float(config["weight_decay"])},
        {"params": [p for _, p in no_decay], "weight_decay": 0.0},
    ]
    groups = [group for group in groups if group["params"]]
    name, lr = config["name"], float(config["lr"])
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=tuple(config["betas"]))
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(config["betas"]))
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=float(config["momentum"]), nesterov=bool(config["nesterov"]))
    raise BccmtError(f"optim.name: unknown optimiser {name!r} (valid: adam, adamw, sgd)")
