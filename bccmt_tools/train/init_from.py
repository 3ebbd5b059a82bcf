"""Start a run from a trained experiment (``bccmt train --init-from EXP``), e.g. large-margin fine-tuning.

The new run's config is EXP's resolved ``config.yaml`` with the given YAML laid over it (so a
fine-tuning config lists only what changes: crops, margin, epochs, learning rate), and
``trainer.init_from`` records EXP. Before the first epoch, the model weights come from EXP's
``avg_model.pt`` (else its newest checkpoint), and the AAM classifier too when the training
speakers are the same; optimizer, schedule and epoch count start fresh. A resumed run continues
from its own checkpoints and ignores EXP.

>>> merge_configs({"data": {"crop_frames": 200, "batch_size": 64}, "loss": {"margin": 0.2}},
...               {"data": {"crop_frames": 600}, "loss": {"margin": 0.5}})
{'data': {'crop_frames': 600, 'batch_size': 64}, 'loss': {'margin': 0.5}}
"""

import copy
from pathlib import Path

from bccmt_tools.errors import BccmtError
from bccmt_tools.io import expdir

# Sections whose given value replaces the inherited one whole (their keys are free-form).
_REPLACED = {("model_conf",), ("features",), ("data", "augment", "options"), ("data", "augment", "noise_sets")}


def merge_configs(base, given, path=()):
    """``base`` with ``given`` laid over it, mapping by mapping (lists and scalars replace)."""
    merged = copy.deepcopy(base)
    for key, value in given.items():
        here = path + (key,)
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and here not in _REPLACED:
            merged[key] = merge_configs(merged[key], value, here)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def init_config(init_dir, config_path, overrides=(), fbank_record=None):
    """The resolved config of a run started from ``init_dir``: its config.yaml, then the YAML of
    ``config_path``, then ``--set`` style ``overrides``; ``trainer.init_from`` = ``init_dir``;
    ``fbank_record`` as in :func:`~bccmt_tools.train.config.resolve_config`."""
    from bccmt_tools.io.expdir import read_config
    from bccmt_tools.io.yaml_io import read_yaml_mapping
    from bccmt_tools.train.model_file import expand_model_file
    from bccmt_tools.train.config import apply_override, resolve_config

    base = read_config(init_dir)
    given = expand_model_file(read_yaml_mapping(config_path, what="training config"), Path(config_path).parent,
                              str(config_path))
    for section in ("model", "model_conf"):
        if section in given and given[section] != base.get(section):
            raise BccmtError(f"{config_path}: key '{section}': differs from {init_dir}/config.yaml; --init-from "
                             f"continues that model (leave '{section}' out of the fine-tuning config)")
    merged = merge_configs(base, given)
    for override in overrides:
        apply_override(merged, override, str(config_path))
    merged.setdefault("trainer", {})["init_from"] = str(init_dir)
    return resolve_config(merged, f"{config_path} over {init_dir}/config.yaml", fbank_record)


def load_initial_weights(objective, init_dir, spk2id):
    """Copy the model (and, for the same training speakers, the classifier) of ``init_dir`` into
    ``objective`` (a TrainObjective); returns a one-line description for the training log."""
    from bccmt_tools.io.expdir import default_checkpoint
    from bccmt_tools.models.experiment import load_state_dict_strict
    from bccmt_tools.train.checkpoint import load_checkpoint

    path = default_checkpoint(init_dir)
    state = load_checkpoint(path)
    load_state_dict_strict(objective.model, path, state["model"])
    classifier = state.get("classifier")
    if classifier is None:
        return f"initialised the model from {path} (it holds no classifier: a new one starts from random weights)"
    if state.get("spk2id") != spk2id:
        return (f"initialised the model from {path}; its classifier is for other training speakers "
                f"({len(state.get('spk2id') or {})} vs {len(spk2id)}): a new one starts from random weights")
    own = objective.classifier.state_dict()
    if set(own) != set(classifier) or any(own[k].shape != classifier[k].shape for k in own):
        raise BccmtError(f"{path}: key 'classifier': does not match this run's classifier")
    objective.classifier.load_state_dict(classifier)
    return f"initialised the model and the classifier from {path}"


def check_init_dir(init_dir):
    """A one-line error unless ``init_dir`` holds a config and a model to start from."""
    if not expdir.config_path(init_dir).is_file():
        raise BccmtError(f"--init-from {init_dir}: no config.yaml (is it a trained experiment directory?)")
