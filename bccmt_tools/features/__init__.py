"""Feature extraction: Kaldi-compatible fbank (torchaudio.compliance.kaldi) and mean normalisation."""

from bccmt_tools.features.cmn import mean_normalize
from bccmt_tools.features.fbank import FbankConfig, compute_fbank, load_fbank_config, num_frames

__all__ = ["FbankConfig", "compute_fbank", "load_fbank_config", "mean_normalize", "num_frames"]
