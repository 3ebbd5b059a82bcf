"""Read YAML config files (torch-free), with one-line errors naming the file.

>>> read_yaml_mapping("conf/fbank.yaml", what="fbank options")["num_mel_bins"]  # doctest: +SKIP
80
"""

import os
from pathlib import Path

from bccmt_tools.errors import BccmtError



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
    if not isinstance(values, dict):
        raise BccmtError(f"{path}: expected a mapping of {what}, got {type(values).__name__}")
    return values
