"""The deployment front end: which fbank implementation computes features, and how an exported
model states the features it expects (its ``bccmt.*`` metadata). No torch import at module level:
the torch-free ONNX path uses this module.

>>> from bccmt_tools.features.fbank import FbankConfig
>>> metadata = model_metadata(FbankConfig(low_freq=40.0), True, 128, "bccmt")
>>> sorted(metadata)
['bccmt.embedding_dim', 'bccmt.features', 'bccmt.model']
>>> fbank, cmn = features_from_metadata(metadata, "model.onnx")
>>> fbank.low_freq, cmn
(40.0, True)
>>> features_from_metadata({}, "old.onnx") is None
True
"""

import json

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.settings import features_section, parse_features

# ONNX metadata_props (and TorchScript bccmt.json) keys written by `bccmt export`.
METADATA_KEYS = {"features": "bccmt.features", "embedding_dim": "bccmt.embedding_dim", "model": "bccmt.model"}
# Fbank implementations: torchaudio.compliance.kaldi (torch) or our numpy port (no torch).
FBANK_FRONTENDS = ("torchaudio", "numpy")


def fbank_function(frontend="torchaudio"):
    """``compute(samples, config) -> feats`` of a front end in :data:`FBANK_FRONTENDS`; ``numpy``
    needs no torch (same features as ``torchaudio`` to about 1e-3)."""
    if frontend == "torchaudio":
        try:
            import torchaudio.compliance.kaldi  # noqa: F401  (compute_fbank imports it per call)
        except ImportError:
            raise BccmtError("the torchaudio fbank front end needs torch and torchaudio; "
                             "use the numpy front end (--fbank-frontend numpy)") from None
        from bccmt_tools.features.fbank import compute_fbank

        return compute_fbank
    if frontend == "numpy":
        from bccmt_tools.features.fbank_numpy import compute_fbank_numpy

        return compute_fbank_numpy
    raise BccmtError(f"fbank front end {frontend!r} is not one of {', '.join(FBANK_FRONTENDS)}")


def model_metadata(fbank, cmn, embedding_dim, model_name):
    """The ``bccmt.*`` metadata of an exported model: the features it expects (JSON of every fbank
    option plus ``cmn``), its embedding size and its registered name."""
    return {
        METADATA_KEYS["features"]: json.dumps(features_section(fbank, cmn), sort_keys=True),
        METADATA_KEYS["embedding_dim"]: str(int(embedding_dim)),
        METADATA_KEYS["model"]: str(model_name or ""),
    }


def features_from_metadata(metadata, where="model"):
    """``(FbankConfig, cmn)`` stored in a model's metadata by ``bccmt export``, or None when the
    metadata has no features entry (files exported by older versions)."""
    text = metadata.get(METADATA_KEYS["features"])
    if text is None:
        return None
    where = f"{where}: metadata {METADATA_KEYS['features']!r}"
    try:
        features = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BccmtError(f"{where}: invalid JSON: {exc}") from None
    if not isinstance(features, dict):
        raise BccmtError(f"{where}: expected a JSON object of fbank options")
    return parse_features(features, where)
