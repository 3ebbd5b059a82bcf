"""Load a trained embedding model from an experiment directory (``exp/<tag>``).

>>> model, config = load_model_from_exp("exp/bccmt_tiny")          # doctest: +SKIP
>>> model(feats, lengths)                                          # doctest: +SKIP
"""

import re
from pathlib import Path
from typing import Optional, Tuple

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.torch_files import load_torch_file
from bccmt_tools.io.yaml_io import read_exp_config
from bccmt_tools.models import build_model
from bccmt_tools.models.base import EmbeddingModel

def default_checkpoint(exp_dir) -> Path:
    """``avg_model.pt`` when present, else the newest ``checkpoints/epoch_*.pt``."""
    exp_dir = Path(exp_dir)
    averaged = exp_dir / "avg_model.pt"
    if averaged.is_file():
        return averaged
    epochs = []
    for path in (exp_dir / "checkpoints").glob("epoch_*.pt"):
        match = re.fullmatch(r"epoch_(\d+)\.pt", path.name)
        if match:
            epochs.append((int(match.group(1)), path))
    if not epochs:
        raise BccmtError(f"{exp_dir}: no avg_model.pt and no checkpoints/epoch_*.pt to load")
    return max(epochs)[1]


def load_state_dict_strict(model: EmbeddingModel, checkpoint_path, state_dict) -> None:
    """Load with strict key and shape checking; a mismatch is a BccmtError naming the checkpoint."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong_shape = sorted(key for key in set(own) & set(state_dict)
                         if tuple(own[key].shape) != tuple(state_dict[key].shape))
    if missing or unexpected or wrong_shape:
        details = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong_shape)):
            if keys:
                shown = ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
                details.append(f"{label}: {shown}")
        raise BccmtError(f"{checkpoint_path}: key 'model': does not match the model of config.yaml ({'; '.join(details)})")
    model.load_state_dict(state_dict, strict=True)


def load_model_from_exp(exp_dir, checkpoint: Optional[str] = None,
                        device: str = "cpu") -> Tuple[EmbeddingModel, dict]:
    """(model in eval mode on ``device``, config) from ``exp_dir/config.yaml`` and a checkpoint.

    ``checkpoint`` defaults to ``exp_dir/avg_model.pt``, else the newest ``checkpoints/epoch_*.pt``;
    its key ``"model"`` holds the embedding model's state_dict.
    """
    config = read_exp_config(exp_dir)
    model = build_model(config, where=str(Path(exp_dir) / "config.yaml"))
    path = Path(checkpoint) if checkpoint else default_checkpoint(exp_dir)
    saved = load_torch_file(path)  # weights_only: a file that would run code is refused, not run
    if not isinstance(saved, dict) or "model" not in saved:
        raise BccmtError(f"{path}: key 'model': missing (not a bccmt checkpoint)")
    load_state_dict_strict(model, path, saved["model"])
    return model.to(device).eval(), config
