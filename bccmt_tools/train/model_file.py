"""A training config names its model by file, so each model is described once.

``model_file: NAME`` in a training config stands for the ``model`` and ``model_conf`` of a model
file (a YAML mapping with just those two keys, as ``bccmt_tools/conf/models/*.yaml``). ``NAME`` is
either a path (it has a ``/`` or ends in ``.yaml``), relative to the training config's folder, or
a bare name looked up as ``NAME.yaml`` in the ``models/`` folder beside the training config's
folder (``egs/voxceleb/conf/models/`` for ``egs/voxceleb/conf/train/*.yaml``), then among the
model files shipped in the package (``bccmt_tools/conf/models/``, package data: found by any
install, editable or not). Keys of the training config's own ``model_conf`` override the file's one by one
(to change ``size``, name another file: the file spells out every option of its size). The
expanded ``model`` and ``model_conf`` go into ``exp/<name>/config.yaml``, so an experiment stays
self-contained.

>>> config = expand_model_file({"model_file": "bccmt_tiny", "model_conf": {"dropout": 0.0}})
>>> config["model"], config["model_conf"]["size"], config["model_conf"]["dropout"], "model_file" in config
('bccmt', 'tiny', 0.0, False)
>>> expand_model_file({"model_file": "bccmt_huge"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: config: key 'model_file': no model file 'bccmt_huge' (looked for ...)
"""

import copy
from pathlib import Path

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.yaml_io import read_yaml_mapping

#: The shared model definitions, shipped inside the package (setup.cfg's package_data).
PACKAGE_MODELS = Path(__file__).resolve().parents[1] / "conf" / "models"
MODEL_FILE_KEYS = ("model", "model_conf")


def find_model_file(value, base_dir=None, source="config"):
    """The path of the model file ``value`` names (see the module doc), or a one-line error."""
    base_dir = Path(base_dir) if base_dir is not None else Path(".")
    if not isinstance(value, str) or not value.strip():
        raise BccmtError(f"{source}: key 'model_file': expected a model name or a YAML path, got {value!r}")
    if "/" in value or value.endswith((".yaml", ".yml")):
        candidates = [base_dir / value]
    else:
        candidates = [base_dir.parent / "models" / f"{value}.yaml", PACKAGE_MODELS / f"{value}.yaml"]
    for path in candidates:
        if path.is_file():
            return path
    raise BccmtError(f"{source}: key 'model_file': no model file {value!r} (looked for "
                     f"{', '.join(str(path) for path in candidates)})")


def read_model_file(path):
    """``(model, model_conf)`` of a model file; other keys are an error."""
    values = read_yaml_mapping(path, what="model config")
    unknown = sorted(set(values) - set(MODEL_FILE_KEYS))
    if unknown or "model" not in values:
        raise BccmtError(f"{path}: a model file holds 'model' and 'model_conf' only"
                         + (f" (found {', '.join(map(str, unknown))})" if unknown else " ('model' is missing)"))
    model_conf = values.get("model_conf") or {}
    if not isinstance(model_conf, dict):
        raise BccmtError(f"{path}: key 'model_conf': expected a mapping, got {model_conf!r}")
    return values["model"], model_conf


def expand_model_file(given, base_dir=None, source="config"):
    """``given`` (a training config dict) with ``model_file`` replaced by the file's ``model`` and
    ``model_conf`` (the config's own ``model_conf`` keys win); unchanged without ``model_file``.
    A ``model`` that the config also gives must be the file's."""
    if "model_file" not in given:
        return given
    given = copy.deepcopy(given)
    path = find_model_file(given.pop("model_file"), base_dir, source)
    model, model_conf = read_model_file(path)
    if given.get("model") not in (None, model):
        raise BccmtError(f"{source}: key 'model': {given['model']!r}, but the model file {path} is a {model!r} "
                         "(drop 'model' or name another model file)")
    own = given.get("model_conf") or {}
    if not isinstance(own, dict):
        raise BccmtError(f"{source}: key 'model_conf': expected a mapping, got {own!r}")
    given["model"] = model
    given["model_conf"] = dict(copy.deepcopy(model_conf), **own)
    return given
