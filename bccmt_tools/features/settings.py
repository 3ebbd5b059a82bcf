"""The ``features`` section of a config (fbank options plus ``cmn``) <-> ``(FbankConfig, cmn)``.

Training configs, experiment ``config.yaml`` files, ONNX metadata and ``--fbank-config`` files all
describe the features a model expects this way; this module is the one parser of it.

>>> fbank, cmn = parse_features({"low_freq": 40, "cmn": False})
>>> fbank.low_freq, fbank.num_mel_bins, cmn
(40.0, 80, False)
>>> resolve_features({"num_mel_bins": 40})["num_mel_bins"], resolve_features({})["cmn"]
(40, True)
>>> parse_features({"low_freqs": 40}, "exp/a/config.yaml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: exp/a/config.yaml: key 'features': fbank config: unknown key(s) low_freqs; ...
"""

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.fbank import load_fbank_config


def parse_features(section, where="config"):
    """``(FbankConfig, cmn)`` of a ``features`` mapping (missing fbank keys: defaults; ``cmn``
    defaults to true). A bad key or value is an error naming ``where``."""
    features = dict(section or {})
    cmn = bool(features.pop("cmn", True))
    try:
        fbank = load_fbank_config(features)
    except BccmtError as error:
        raise BccmtError(f"{where}: key 'features': {error.message}") from None
    return fbank, cmn


def features_section(fbank, cmn=True):
    """The resolved ``features`` mapping: every fbank option, then ``cmn``."""
    return dict(fbank.to_dict(), cmn=bool(cmn))


def resolve_features(section, where="config"):
    """A ``features`` mapping with every fbank option filled in (defaults) and ``cmn``."""
    return features_section(*parse_features(section, where))
