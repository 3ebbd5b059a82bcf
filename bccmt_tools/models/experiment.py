"""Load a trained embedding model from an experiment directory (``exp/<tag>``).

>>> model, config = load_model_from_exp("exp/bccmt_tiny")          # doctest: +SKIP
>>> model(feats, lengths)                                          # doctest: +SKIP
"""

from pathlib import Path
from typing import Optional, Tuple

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.expdir import config_path, default_checkpoint, read_config
from bccmt_tools.io.torch_files import load_torch_file
from bccmt_tools.models import build_model
from bccmt_tools.models.base import EmbeddingModel


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


def check_feature_size(model: EmbeddingModel, config: dict, where) -> None:
    """A one-line error when the config's ``features`` give another size than the model takes."""
    from bccmt_tools.features.settings import parse_features

    takes = getattr(getattr(model, "config", None), "n_mels", None)
    fbank, _cmn = parse_features(config.get("features") or {}, str(where))
    if takes is not None and fbank.feature_dim != takes:
        raise BccmtError(f"{where}: key 'features': {fbank.feature_dim}-dim features, but the model takes {takes} "
                         "(model_conf.n_mels): the two were edited apart; restore the config.yaml the model was "
                         "trained with")


def load_experiment(exp_dir, checkpoint: Optional[str] = None,
                    device: str = "cpu") -> Tuple[EmbeddingModel, dict, dict, Path]:
    """``(model in eval mode on device, config, checkpoint dict, checkpoint path)`` of an experiment:
    its ``config.yaml`` and ``checkpoint`` (default: see :func:`~bccmt_tools.io.expdir.default_checkpoint`),
    read once; the checkpoint's ``"model"`` holds the embedding model's state_dict."""
    config = read_config(exp_dir)
    model = build_model(config, where=str(config_path(exp_dir)))
    check_feature_size(model, config, config_path(exp_dir))
    path = Path(checkpoint) if checkpoint else default_checkpoint(exp_dir)
    saved = load_torch_file(path)  # weights_only: a file that would run code is refused, not run
    if not isinstance(saved, dict) or "model" not in saved:
        raise BccmtError(f"{path}: key 'model': missing (not a bccmt checkpoint)")
    load_state_dict_strict(model, path, saved["model"])
    return model.to(device).eval(), config, saved, path


def load_model_from_exp(exp_dir, checkpoint: Optional[str] = None,
                        device: str = "cpu") -> Tuple[EmbeddingModel, dict]:
    """(model in eval mode on ``device``, config) from ``exp_dir/config.yaml`` and a checkpoint
    (see :func:`load_experiment`)."""
    model, config, _state, _path = load_experiment(exp_dir, checkpoint, device)
    return model, config
