"""The fbank record of a data dir: the fbank options its ``feats.scp`` was computed with.

``bccmt compute-fbank --write-config FILE`` writes it; ``utils/make_fbank.sh`` puts it at
``DATA/conf/fbank.yaml`` (:data:`~bccmt_tools.io.datadir.FBANK_RECORD`), and the data-dir tools
carry it wherever ``feats.scp`` goes. ``bccmt train`` on ``feats.scp`` takes its ``features`` from
it; a fbank option that the training config also gives must agree. A data dir made before records
were kept has none: its features are taken to be the built-in defaults, as before.

>>> import tempfile; from bccmt_tools.features.fbank import FbankConfig
>>> data = tempfile.mkdtemp()
>>> read_fbank_record(data) is None  # no record: built-in defaults
True
>>> write_fbank_record(FbankConfig(low_freq=40.0), f"{data}/conf/fbank.yaml")
>>> record = read_fbank_record(data)
>>> features_from_record({"cmn": False}, record)["low_freq"]
40.0
>>> features_from_record({"low_freq": 20}, record, "train.yaml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: train.yaml: key 'features.low_freq': 20.0, but the features were computed with 40.0 (.../conf/fbank.yaml); ...
"""

import dataclasses
from pathlib import Path

import yaml

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.fbank import load_fbank_config
from bccmt_tools.features.settings import features_section, parse_features
from bccmt_tools.io.datadir import FBANK_RECORD

HEADER = ("# The fbank options feats.scp in this data dir was computed with (bccmt compute-fbank).\n"
          "# bccmt train takes the features of a run on this data from here; keep it beside feats.scp.\n")
# Dither only adds training noise (extraction always uses 0): it does not change what a model expects.
IGNORED_KEYS = ("dither",)


@dataclasses.dataclass(frozen=True)
class FbankRecord:
    """A data dir's record: its :class:`~bccmt_tools.features.fbank.FbankConfig` and file path."""

    fbank: object
    path: str


def write_fbank_record(fbank, path):
    """Write every option of the FbankConfig ``fbank`` as YAML to ``path`` (atomically)."""
    from bccmt_tools.io.atomic import atomic_write

    with atomic_write(path) as handle:
        handle.write(HEADER + yaml.safe_dump(fbank.to_dict(), sort_keys=False, default_flow_style=False))


def read_fbank_record(data_dir):
    """The :class:`FbankRecord` of ``data_dir``, or None when it has none (an older data dir)."""
    path = Path(data_dir) / FBANK_RECORD
    if not path.is_file():
        return None
    return FbankRecord(load_fbank_config(path), str(path))


def _differing(fbank, record, keys):
    return [(key, getattr(fbank, key), getattr(record.fbank, key)) for key in keys
            if key not in IGNORED_KEYS and getattr(fbank, key) != getattr(record.fbank, key)]


def _refuse(differences, record, where, advice="drop the key or recompute the features with it"):
    key, given, recorded = differences[0]
    more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
    raise BccmtError(f"{where}: key 'features.{key}': {given!r}, but the features were computed with {recorded!r} "
                     f"({record.path}){more}; {advice}")


def features_from_record(given, record, where="config"):
    """The resolved ``features`` of a run on the data of ``record``: the record's fbank options
    plus ``cmn`` from ``given`` (a config's ``features`` section as written, maybe partial); a
    fbank option ``given`` also names must agree with the record (dither excepted)."""
    given = dict(given or {})
    parsed, cmn = parse_features(given, where)
    named = [key for key in given if key != "cmn"]
    differences = _differing(parsed, record, named)
    if differences:
        _refuse(differences, record, where)
    fbank = dataclasses.replace(record.fbank, **{key: getattr(parsed, key) for key in named})
    return features_section(fbank, cmn)


def check_features(features, record, where="config"):
    """Refuse resolved ``features`` (every fbank option) that differ from ``record``."""
    check_fbank(parse_features(features, where)[0], record, where)


def check_fbank(fbank, record, where="model", advice="drop the key or recompute the features with it"):
    """Refuse an FbankConfig that differs from ``record`` (dither excepted)."""
    differences = _differing(fbank, record, [field.name for field in dataclasses.fields(fbank)])
    if differences:
        _refuse(differences, record, where, advice)
