"""Read YAML config files (torch-free), with one-line errors naming the file.

>>> read_yaml_mapping("conf/fbank.yaml", what="fbank options")["num_mel_bins"]  # doctest: +SKIP
80
"""

import os
from pathlib import Path

from bccmt_tools.errors import BccmtError

#: Most values a config may expand to (aliases counted as often as they are used): a real config
#: has a few hundred; a file of nested anchors ("billion laughs") expands to billions.
MAX_EXPANDED_VALUES = 100_000


def expanded_size(value, _memo=None):
    """Scalars, lists and mappings ``value`` holds once every YAML alias is expanded, counted
    without expanding them (shared objects are counted once and reused).

    >>> import yaml
    >>> expanded_size(yaml.safe_load("a: &x [1, 2, 3]\\nb: [*x, *x, *x]"))
    20
    """
    memo = {} if _memo is None else _memo
    key = id(value)
    if key not in memo:
        if isinstance(value, dict):
            children = [item for pair in value.items() for item in pair]
        elif isinstance(value, list):
            children = value
        else:
            children = []
        memo[key] = 1 + sum(expanded_size(child, memo) for child in children)
    return memo[key]


def check_expansion(value, where):
    """A one-line error when ``value`` expands to more than :data:`MAX_EXPANDED_VALUES` values."""
    size = expanded_size(value)
    if size > MAX_EXPANDED_VALUES:
        raise BccmtError(f"{where}: its YAML anchors and aliases expand to {size:.3g} values (a config has a "
                         f"few hundred; at most {MAX_EXPANDED_VALUES:,} are read): refused")


def read_yaml_mapping(path, what="config"):
    """The top-level mapping of a YAML file (``{}`` for an empty file).

    A missing file, invalid YAML or a top level that is not a mapping is a BccmtError naming
    ``path``; ``what`` says what the file should hold ("fbank options", "config", ...).
    """
    import yaml

    path = str(path)
    if not os.path.isfile(path):
        raise BccmtError(f"{path}: {what} file not found")
    try:
        with open(path, encoding="utf-8") as handle:
            values = yaml.safe_load(handle)
    except OSError as exc:
        raise BccmtError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise BccmtError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    if values is None:
        return {}
    check_expansion(values, path)
    if not isinstance(values, dict):
        raise BccmtError(f"{path}: expected a mapping of {what}, got {type(values).__name__}")
    return values
