"""Speaker embedding models, chosen by name through an explicit registry.

>>> model = build_model({"model": "bccmt", "model_conf": {"size": "tiny"}})
>>> model.embedding_dim
192

Every model maps ``(feats [B, T, 80], lengths [B]) -> embeddings [B, D]`` and offers
``forward_with_attention`` (see ``base.EmbeddingModel``). The classifier head is not part of it.
"""

import dataclasses
from typing import Dict, NamedTuple, Type

from bccmt_tools.errors import BccmtError
from bccmt_tools.models.base import EmbeddingModel
from bccmt_tools.models.bccmt import BCCMT, BccmtConfig
from bccmt_tools.models.ecapa_tdnn import EcapaConfig, EcapaTdnn
from bccmt_tools.models.resnet import ResNet, ResNetConfig


class ModelEntry(NamedTuple):
    model_class: Type[EmbeddingModel]
    config_class: type


MODEL_REGISTRY: Dict[str, ModelEntry] = {
    "bccmt": ModelEntry(BCCMT, BccmtConfig),
    "ecapa_tdnn": ModelEntry(EcapaTdnn, EcapaConfig),
    "resnet": ModelEntry(ResNet, ResNetConfig),
}


def model_config(config: dict, where: str = "model config"):
    """The checked config dataclass for ``config`` (keys ``model`` and ``model_conf``)."""
    if not isinstance(config, dict) or "model" not in config:
        raise BccmtError(f"{where}: key 'model': missing; valid models: {', '.join(sorted(MODEL_REGISTRY))}")
    name = config["model"]
    if name not in MODEL_REGISTRY:
        raise BccmtError(f"{where}: key 'model': unknown model '{name}'; valid models: "
                         f"{', '.join(sorted(MODEL_REGISTRY))}")
    options = config.get("model_conf") or {}
    if not isinstance(options, dict):
        raise BccmtError(f"{where}: key 'model_conf': must be a mapping, got {type(options).__name__}")
    config_class = MODEL_REGISTRY[name].config_class
    valid = [field.name for field in dataclasses.fields(config_class)]
    for key in options:
        if key not in valid:
            raise BccmtError(f"{where}: key 'model_conf.{key}': unknown option for model '{name}'; "
                             f"valid options: {', '.join(valid)}")
    try:
        return config_class(**options).resolved()
    except (TypeError, ValueError) as error:
        raise BccmtError(f"{where}: key 'model_conf': {error}") from None


def resolved_model_conf(config: dict, where: str = "model config") -> dict:
    """``model_conf`` with every default and size preset filled in (what a run should record)."""
    return dataclasses.asdict(model_config(config, where))


def build_model(config: dict, where: str = "model config") -> EmbeddingModel:
    """Build the model named by ``config['model']`` with options ``config['model_conf']``.

    Unknown model names or options raise BccmtError listing the valid ones; ``where`` names the
    config file in messages.
    """
    options = model_config(config, where)
    return MODEL_REGISTRY[config["model"]].model_class(options)


__all__ = ["MODEL_REGISTRY", "EmbeddingModel", "build_model", "model_config", "resolved_model_conf"]
