"""Feature extraction: Kaldi-compatible fbank (torchaudio.compliance.kaldi, or the numpy port that
needs no torch) and mean normalisation. Nothing here imports torch at import time."""

from bccmt_tools.features.cmn import mean_normalize
from bccmt_tools.features.fbank import FbankConfig, compute_fbank, load_fbank_config, num_frames
from bccmt_tools.features.fbank_numpy import compute_fbank_numpy

__all__ = ["FbankConfig", "compute_fbank", "compute_fbank_numpy", "load_fbank_config", "mean_normalize", "num_frames"]
