"""Training configuration: defaults, merging a user YAML, validation and the resolved snapshot.

A training config is a YAML mapping with the sections below; every key a user gives must
exist in the defaults (except inside ``model_conf`` and ``data.augment.options``, which their
consumers validate), so a typo is an error naming the valid keys. ``model_file: NAME`` stands for
the ``model`` and ``model_conf`` of a model file (:mod:`bccmt_tools.train.model_file`).

>>> config = resolve_config({"model": "bccmt", "model_conf": {"size": "tiny"}, "optim": {"lr": 0.01}})
>>> config["optim"]["lr"], config["optim"]["name"], config["trainer"]["epochs"]
(0.01, 'adam', 20)
>>> resolve_config({"model": "bccmt", "optim": {"learning_rate": 0.01}})
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: config: unknown key 'optim.learning_rate' (valid keys here: betas, lr, momentum, name, nesterov, weight_decay)
"""

import copy
from pathlib import Path

import yaml

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.record import features_from_record, read_fbank_record
from bccmt_tools.features.settings import resolve_features
from bccmt_tools.io.yaml_io import check_expansion, read_yaml_mapping
from bccmt_tools.train.model_file import expand_model_file

# Sections whose contents are passed on verbatim to the component that validates them.
FREE_FORM = {("model_conf",), ("features",), ("data", "augment", "options"), ("data", "augment", "noise_sets")}

DEFAULTS = {
    "model": None,
    "model_conf": {},
    # Fbank settings of the features the model expects (FbankConfig fields) plus "cmn".
    "features": {},
    "data": {
        "type": "feats",            # feats: feats.scp crops; raw: wav.scp + on-the-fly fbank
        "crop_frames": 200,         # training crop length in frames (10 ms each)
        "batch_size": 128,          # per process (per GPU under torchrun)
        "num_workers": 2,
        "sampler": "plain",         # plain: shuffle utterances; speaker_balanced: speakers uniformly
        "drop_last": True,
        "dither": 1.0,              # raw mode: dither during training (features.dither is for test)
        # Raw mode only: online speed perturbation as WeSpeaker's, e.g. [0.9, 1.0, 1.1] ([] = off). Each
        # item plays at one factor drawn from its seed (the whole utterance, before the crop); a factor
        # other than 1.0 is a new speaker sp<f>-<spk>, so the classifier (and the saved speaker map)
        # has len(factors) x the speakers. Must hold 1.0, no factor twice. Feature (feats) runs
        # perturb offline instead: run.sh --speed-perturb true (bccmt speed-perturb-data-dir).
        "speed_perturb": [],
        # Raw mode only: online augmentation, on when any source is given.
        "augment": {
            "noise_sets": {},       # MUSAN category -> data dir with wav.scp: noise, music, speech (babble)
            "rir_sets": [],         # data dirs whose wav.scp lists room impulse responses
            "options": {},          # Augmenter config (dict or YAML path): prob, kinds, SNR ranges
        },
    },
    "loss": {
        "name": "aam",
        "margin": 0.2,
        "scale": 30.0,
        "easy_margin": False,
        "margin_warmup": {"start_epoch": 0.0, "end_epoch": 0.0},
    },
    "kd": {
        "teacher": None,            # teacher exp dir (also --teacher)
        # resize_teacher: average-pool finer teacher maps to the student's shape (else an error)
        "attention": {"weight": 1.0, "kind": "kl", "last_only": False, "warmup_epochs": 0.0,
                      "resize_teacher": False},
        "embedding": {"weight": 0.0},
        "logit": {"weight": 0.0, "temperature": 4.0},
        "fuse_teacher": True,       # fold the frozen teacher's BatchNorms (same maps up to float rounding)
    },
    "optim": {
        "name": "adam",             # adam | adamw | sgd
        "lr": 1.0e-3,
        "weight_decay": 2.0e-5,
        "betas": [0.9, 0.999],
        "momentum": 0.9,            # sgd only
        "nesterov": False,          # sgd only
    },
    "scheduler": {
        "name": "cosine",           # cosine | exponential | constant
        "warmup_epochs": 1.0,       # linear warm-up from warmup_start_factor * lr
        "warmup_start_factor": 0.0,
        "min_lr": 1.0e-6,           # end value of cosine / exponential decay
    },
    "trainer": {
        "epochs": 20,
        "max_steps_per_epoch": 0,   # cap on steps per epoch (0 = a full pass over the data)
        "seed": 1234,
        "grad_clip": 5.0,           # max gradient norm; 0 = off
        "amp": True,                # mixed precision (float16), CUDA only (ignored on CPU)
        "cpu_amp": False,           # bfloat16 autocast on a CPU: pays where it has AMX or AVX512-BF16
        "keep_checkpoints": 5,      # keep the last N epoch checkpoints (0 = all)
        "log_interval": 50,         # steps between progress lines in train.log (0 = none)
        "compile": False,           # torch.compile the training step's model (and the teacher); CPU needs a C compiler
        "init_from": None,          # exp dir whose weights start the run (bccmt train --init-from)
    },
    # Held-out validation (bccmt_tools/train/validation.py): cosine EER of a labelled trial list
    # over a data dir with feats.scp whose speakers are not trained on; logged in train.log.
    "validation": {
        "data": None,               # e.g. data/voxceleb1_dev (off when empty)
        "trials": None,             # e.g. data/trials/vox1_dev_val (bccmt make-trials)
        "every_epochs": 1,          # and always after the last epoch
    },
}

CHOICES = {
    ("data", "type"): ("feats", "raw"),
    ("data", "sampler"): ("plain", "speaker_balanced"),
    ("loss", "name"): ("aam",),
    ("kd", "attention", "kind"): ("kl", "mse"),
    ("optim", "name"): ("adam", "adamw", "sgd"),
    ("scheduler", "name"): ("cosine", "exponential", "constant"),
}


# Type and range of every scalar key: (kind, low, high), kind "int" | "float" | "bool"; bounds are
# inclusive, None for none. The ranges exclude what cannot train (a margin of 5 rad gives loss 0, a
# 100,000-frame crop fills any memory), not merely unusual values.
LIMITS = {
    ("data", "crop_frames"): ("int", 1, 6000),          # at most 60 s of 10 ms frames
    ("data", "batch_size"): ("int", 1, 65536),
    ("data", "num_workers"): ("int", 0, 256),
    ("data", "drop_last"): ("bool", None, None),
    ("data", "dither"): ("float", 0.0, 100.0),
    ("loss", "margin"): ("float", 0.0, 1.0),            # radians: AAM margins are 0.1-0.5
    ("loss", "scale"): ("float", 1.0, 1000.0),
    ("loss", "easy_margin"): ("bool", None, None),
    ("loss", "margin_warmup", "start_epoch"): ("float", 0.0, None),
    ("loss", "margin_warmup", "end_epoch"): ("float", 0.0, None),
    ("kd", "attention", "weight"): ("float", 0.0, 1e6),
    ("kd", "attention", "last_only"): ("bool", None, None),
    ("kd", "attention", "warmup_epochs"): ("float", 0.0, None),
    ("kd", "attention", "resize_teacher"): ("bool", None, None),
    ("kd", "embedding", "weight"): ("float", 0.0, 1e6),
    ("kd", "logit", "weight"): ("float", 0.0, 1e6),
    ("kd", "logit", "temperature"): ("float", 1e-3, 1e3),
    ("kd", "fuse_teacher"): ("bool", None, None),
    ("optim", "lr"): ("float", 1e-12, 10.0),
    ("optim", "weight_decay"): ("float", 0.0, 1.0),
    ("optim", "momentum"): ("float", 0.0, 0.999999),
    ("optim", "nesterov"): ("bool", None, None),
    ("scheduler", "warmup_epochs"): ("float", 0.0, None),
    ("scheduler", "warmup_start_factor"): ("float", 0.0, 1.0),
    ("scheduler", "min_lr"): ("float", 0.0, 10.0),
    ("trainer", "epochs"): ("int", 1, 100_000),
    ("trainer", "max_steps_per_epoch"): ("int", 0, None),
    ("trainer", "seed"): ("int", 0, 2 ** 63 - 1),
    ("trainer", "grad_clip"): ("float", 0.0, None),
    ("trainer", "amp"): ("bool", None, None),
    ("trainer", "cpu_amp"): ("bool", None, None),
    ("trainer", "keep_checkpoints"): ("int", 0, None),
    ("trainer", "log_interval"): ("int", 0, None),         # 0: no progress lines
    ("trainer", "compile"): ("bool", None, None),
    ("validation", "every_epochs"): ("int", 1, None),
}


def check_value(value, kind, low, high, where):
    """``value`` if it is a ``kind`` ("int", "float", "bool") within [low, high], else a one-line
    BccmtError saying what is expected (NaN and infinities are never numbers here).

    >>> check_value(0.002, "float", 0.0, 1.0, "optim.lr")
    0.002
    >>> check_value(1.5, "int", 1, None, "data.batch_size")
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: key 'data.batch_size': must be a whole number >= 1, got 1.5
    """
    import math

    text = {"int": "a whole number", "float": "a number", "bool": "true or false"}[kind]
    if low is not None and high is not None:
        text += f" in [{low:g}, {high:g}]"
    elif low is not None:
        text += f" >= {low:g}"
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (kind == "bool" or ((low is None or value >= low) and (high is None or value <= high)))
    if not ok:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise BccmtError(f"key '{where}': must be {text}, got {shown}")
    return value


def _check_limits(config, source):
    for path, (kind, low, high) in LIMITS.items():
        value = config
        for key in path:
            value = value[key]
        try:
            check_value(value, kind, low, high, ".".join(path))
        except BccmtError as exc:
            raise BccmtError(f"{source}: {exc.message}") from None
    betas = config["optim"]["betas"]
    if not (isinstance(betas, (list, tuple)) and len(betas) == 2):
        raise BccmtError(f"{source}: key 'optim.betas': must be two numbers in [0, 1), e.g. [0.9, 0.999], got {betas!r}")
    for beta in betas:
        try:
            check_value(beta, "float", 0.0, 0.999999, "optim.betas")
        except BccmtError as exc:
            raise BccmtError(f"{source}: {exc.message}") from None
    warmup = config["loss"]["margin_warmup"]
    if warmup["end_epoch"] < warmup["start_epoch"]:
        raise BccmtError(f"{source}: key 'loss.margin_warmup': end_epoch {warmup['end_epoch']} comes before "
                         f"start_epoch {warmup['start_epoch']}")


def _merge(defaults, given, path, source):
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        here = path + (key,)
        dotted = ".".join(here)
        if key not in defaults:
            valid = ", ".join(sorted(defaults)) or "(none)"
            raise BccmtError(f"{source}: unknown key '{dotted}' (valid keys here: {valid})")
        if here in FREE_FORM:
            if value is not None and not isinstance(value, dict) and not (here == ("data", "augment", "options")
                                                                          and isinstance(value, str)):
                raise BccmtError(f"{source}: key '{dotted}': expected a mapping, got {value!r}")
            merged[key] = copy.deepcopy(value) if value else {}
        elif isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise BccmtError(f"{source}: key '{dotted}': expected a mapping, got {value!r}")
            merged[key] = _merge(defaults[key], value, here, source)
        else:
            merged[key] = value
    return merged


def _check_choices(config, source):
    for path, valid in CHOICES.items():
        value = config
        for key in path:
            value = value[key]
        if value not in valid:
            raise BccmtError(f"{source}: key '{'.'.join(path)}': {value!r} is not one of {', '.join(valid)}")


def _speed_perturb(data, source):
    """``data.speed_perturb`` checked, as a list of floats (``[]``: off); raw runs only.

    >>> _speed_perturb({"type": "raw", "speed_perturb": [1.1, 1, 0.9]}, "config")
    [1.1, 1.0, 0.9]
    >>> _speed_perturb({"type": "feats", "speed_perturb": [0.9, 1.0, 1.1]}, "config")
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: config: key 'data.speed_perturb': online speed perturbation needs data.type raw; for features, perturb the data offline: run.sh --speed-perturb true (bccmt speed-perturb-data-dir) before computing them
    """
    from bccmt_tools.data.speed import check_speed_factors

    factors = list(check_speed_factors(data["speed_perturb"], f"{source}: key 'data.speed_perturb'"))
    if factors and data["type"] != "raw":
        raise BccmtError(f"{source}: key 'data.speed_perturb': online speed perturbation needs data.type raw; for "
                         "features, perturb the data offline: run.sh --speed-perturb true (bccmt "
                         "speed-perturb-data-dir) before computing them")
    return factors


def resolve_config(given, source="config", fbank_record=None, base_dir=None):
    """Defaults + ``given`` (a dict), validated; returns the full resolved config.

    A ``model_file`` is expanded first, relative to ``base_dir`` (the training config's folder).
    ``fbank_record`` (:class:`~bccmt_tools.features.record.FbankRecord` of the training data, or
    None) fills ``features`` of a run on ``feats.scp``, checking the fbank options ``given`` names.
    """
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise BccmtError(f"{source}: expected a YAML mapping at the top level")
    given = expand_model_file(given, base_dir, source)
    config = _merge(DEFAULTS, given, (), source)
    if not config["model"]:
        raise BccmtError(f"{source}: key 'model' is required (a registered model name)")
    _check_choices(config, source)
    _check_limits(config, source)
    config["data"]["speed_perturb"] = _speed_perturb(config["data"], source)
    if fbank_record is not None and config["data"]["type"] == "feats":
        config["features"] = features_from_record(config["features"], fbank_record, source)
    else:
        config["features"] = resolve_features(config["features"], source)
    return config


def load_config(path, overrides=(), data_dir=None):
    """Read a YAML config, apply ``key.sub=value`` overrides (YAML values), resolve it; with
    ``data_dir``, its fbank record (if any) gives the features (see :func:`resolve_config`)."""
    path = Path(path)
    given = read_yaml_mapping(path, what="training config")
    for override in overrides:
        apply_override(given, override, str(path))
    return resolve_config(given, str(path), read_fbank_record(data_dir) if data_dir else None, path.parent)


def experiment_config(config, teacher_dir=None):
    """The config as a run records it in ``EXP/config.yaml``: ``kd.teacher`` set (``teacher_dir``,
    else the config's own), ``model_conf`` with every default and size preset filled in."""
    from bccmt_tools.models import resolved_model_conf

    config = dict(config)
    teacher_dir = teacher_dir or config["kd"].get("teacher")
    config["kd"] = dict(config["kd"], teacher=str(teacher_dir) if teacher_dir else None)
    config["model_conf"] = resolved_model_conf(config, "train config")
    return config


def apply_override(config, override, source="--set"):
    """Set ``a.b.c=value`` (value parsed as YAML) in a nested dict, creating mappings."""
    if "=" not in override:
        raise BccmtError(f"--set {override!r}: expected KEY=VALUE, e.g. optim.lr=0.002")
    dotted, raw = override.split("=", 1)
    keys = dotted.strip().split(".")
    node = config
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise BccmtError(f"--set {override!r}: '{key}' is not a mapping in {source}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise BccmtError(f"--set {override!r}: invalid YAML value: {' '.join(str(exc).split())}") from None
    check_expansion(value, f"--set {dotted.strip()}")
    node[keys[-1]] = value


class _ConfigDumper(yaml.SafeDumper):
    """Block style, except lists of scalars inline (``channels: [16, 32, 48, 64]``)."""


def _represent_list(dumper, items):
    inline = all(not isinstance(item, (dict, list)) for item in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=inline)


_ConfigDumper.add_representer(list, _represent_list)
_ConfigDumper.add_representer(tuple, _represent_list)


def dump_config(config):
    """The config as YAML text."""
    return yaml.dump(config, Dumper=_ConfigDumper, sort_keys=False, default_flow_style=False)


def save_config(config, path):
    """Write the resolved config as YAML (atomically)."""
    from bccmt_tools.io.atomic import atomic_write

    with atomic_write(path) as handle:
        handle.write(dump_config(config))
