"""Kaldi-compatible log-Mel filterbank features through ``torchaudio.compliance.kaldi.fbank``.

Samples come in as float32 in [-1, 1] and are scaled by 32768 first, so the features equal
Kaldi's ``compute-fbank-feats`` on the same 16-bit audio (Kaldi works on int16-scale values).

>>> import numpy as np
>>> feats = compute_fbank(np.zeros(16000, dtype=np.float32) + 0.01, FbankConfig())
>>> feats.shape  # 1 s at 16 kHz, 25 ms windows every 10 ms, Kaldi framing (snip_edges)
(98, 80)
"""

import dataclasses
import math
from dataclasses import dataclass, fields

import numpy as np

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.framing import num_frames  # noqa: F401  (re-exported: features.fbank.num_frames)
from bccmt_tools.io.yaml_io import read_yaml_mapping

INT16_SCALE = 32768.0
WINDOW_TYPES = ("hamming", "hanning", "povey", "rectangular", "blackman")
#: (field, lowest, highest) of the numeric fbank options: what Kaldi accepts and can compute.
FBANK_RANGES = (
    ("sample_rate", 1000, 384000),
    ("num_mel_bins", 1, 1024),
    ("frame_length", 1.0, 1000.0),      # ms
    ("frame_shift", 1.0, 1000.0),       # ms
    ("dither", 0.0, 100.0),
    ("preemphasis_coefficient", 0.0, 1.0),
    ("energy_floor", 0.0, 1e10),
    ("low_freq", 0.0, 192000.0),
    ("high_freq", -192000.0, 192000.0),
)


@dataclass
class FbankConfig:
    """Fbank options (names as in torchaudio/Kaldi; ``sample_rate`` is Kaldi's sample-frequency).

    ``dither`` is 0.0 for feature extraction (deterministic features); on-the-fly training
    features usually use 1.0 (Kaldi's default), drawn from an explicit generator.
    """

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length: float = 25.0
    frame_shift: float = 10.0
    dither: float = 0.0
    window_type: str = "hamming"
    preemphasis_coefficient: float = 0.97
    remove_dc_offset: bool = True
    round_to_power_of_two: bool = True
    snip_edges: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0
    use_energy: bool = False
    energy_floor: float = 0.0
    raw_energy: bool = True
    use_log_fbank: bool = True
    use_power: bool = True

    def __post_init__(self):
        if self.window_type not in WINDOW_TYPES:
            raise BccmtError(f"fbank config: window_type {self.window_type!r} is not one of {', '.join(WINDOW_TYPES)}")
        for name, low, high in FBANK_RANGES:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                raise BccmtError(f"fbank config: {name} must be a number in [{low:g}, {high:g}], got {value!r}")
        nyquist = self.sample_rate / 2
        high = self.high_freq if self.high_freq > 0 else nyquist + self.high_freq  # Kaldi: <= 0 is an offset
        if not (0 <= self.low_freq < high <= nyquist):
            raise BccmtError(f"fbank config: need 0 <= low_freq < high_freq <= {nyquist:g} (half of sample_rate "
                             f"{self.sample_rate}; high_freq <= 0 counts back from it), got low_freq "
                             f"{self.low_freq:g}, high_freq {self.high_freq:g}")

    def to_dict(self):
        """Plain dict (for writing into an experiment's config.yaml)."""
        return dataclasses.asdict(self)

    @property
    def feature_dim(self):
        return self.num_mel_bins + (1 if self.use_energy else 0)


def _coerce(name, kind, value, source):
    """Check/convert one YAML value to the field's type (bool is not accepted for numbers)."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    raise BccmtError(f"{source}: {name} must be {kind.__name__}, got {value!r}")


def load_fbank_config(path_or_dict=None):
    """Build an :class:`FbankConfig` from a YAML file, a dict, an FbankConfig or None (defaults).

    Unknown keys are an error that lists the valid ones.

    >>> load_fbank_config({"num_mel_bins": 40}).num_mel_bins
    40
    >>> load_fbank_config({"num_mel_bin": 40})
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: fbank config: unknown key(s) num_mel_bin; valid keys: sample_rate, num_mel_bins, frame_length, frame_shift, dither, window_type, preemphasis_coefficient, remove_dc_offset, round_to_power_of_two, snip_edges, low_freq, high_freq, use_energy, energy_floor, raw_energy, use_log_fbank, use_power
    """
    if path_or_dict is None:
        return FbankConfig()
    if isinstance(path_or_dict, FbankConfig):
        return dataclasses.replace(path_or_dict)
    if isinstance(path_or_dict, dict):
        values, source = dict(path_or_dict), "fbank config"
    else:
        values, source = read_yaml_mapping(path_or_dict, what="fbank options"), str(path_or_dict)
    types = {field.name: field.type for field in fields(FbankConfig)}
    unknown = [key for key in values if key not in types]
    if unknown:
        raise BccmtError(f"{source}: unknown key(s) {', '.join(map(str, unknown))}; valid keys: {', '.join(types)}")
    return FbankConfig(**{name: _coerce(name, types[name], value, source) for name, value in values.items()})


def _torchaudio_options(config):
    return dict(
        sample_frequency=float(config.sample_rate),
        num_mel_bins=config.num_mel_bins,
        frame_length=config.frame_length,
        frame_shift=config.frame_shift,
        dither=config.dither,
        window_type=config.window_type,
        preemphasis_coefficient=config.preemphasis_coefficient,
        remove_dc_offset=config.remove_dc_offset,
        round_to_power_of_two=config.round_to_power_of_two,
        snip_edges=config.snip_edges,
        low_freq=config.low_freq,
        high_freq=config.high_freq,
        use_energy=config.use_energy,
        energy_floor=config.energy_floor,
        raw_energy=config.raw_energy,
        use_log_fbank=config.use_log_fbank,
        use_power=config.use_power,
    )


def compute_fbank(samples, config=None, generator=None):
    """Fbank features ``[T, feature_dim]`` float32 of float samples in [-1, 1].

    ``samples`` is a 1-D numpy array or torch tensor. With ``config.dither > 0`` the dither noise
    is drawn from ``generator`` (a ``torch.Generator``), so a seeded generator reproduces the
    features exactly; the global torch RNG is left untouched. Audio shorter than one frame gives
    zero frames.
    """
    import torch
    import torchaudio.compliance.kaldi as kaldi

    config = config or FbankConfig()
    waveform = torch.as_tensor(samples, dtype=torch.float32)
    if waveform.ndim != 1:
        raise BccmtError(f"compute_fbank: expected 1-D mono samples, got shape {tuple(waveform.shape)}")
    if num_frames(waveform.shape[0], config) == 0:
        return np.zeros((0, config.feature_dim), dtype=np.float32)
    waveform = (waveform * INT16_SCALE).unsqueeze(0)
    options = _torchaudio_options(config)
    with torch.no_grad():
        if config.dither > 0:
            # torchaudio draws dither from the global RNG; run it on a forked RNG seeded from the
            # caller's generator so results are reproducible and global state is unchanged.
            seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                feats = kaldi.fbank(waveform, **options)
        else:
            feats = kaldi.fbank(waveform, **options)
    return feats.numpy().astype(np.float32, copy=False)
