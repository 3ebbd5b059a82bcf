"""Data augmentation in the Kaldi voxceleb/v2 manner: additive MUSAN noise, music, babble, reverberation.

Shared by ``bccmt augment-data-dir`` (recipe stage 3, augmented copies on disk) and online
augmentation during training. Ranges live in ``egs/voxceleb/conf/augment.yaml``:

* ``noise``: one MUSAN noise file at an SNR drawn uniformly from 0-15 dB;
* ``music``: one MUSAN music file at 5-15 dB;
* ``babble``: 3-7 MUSAN speech files summed, the sum added at 13-20 dB;
* ``reverb``: convolution with a random room impulse response (RIR).

Short noises are looped and long ones cropped at a random offset, so the output always has the
input's length. SNRs are measured on whole-signal power, as Kaldi does. A kind whose source is
absent (no MUSAN music, say) is skipped when kinds are drawn at random.

>>> rng = np.random.default_rng(0)
>>> speech, noise = rng.standard_normal(16000), rng.standard_normal(4000)
>>> mixed = mix_at_snr(speech, noise, 10.0, rng)
>>> mixed.shape, round(snr_db(speech, mixed - speech), 6)
((16000,), 10.0)
"""

from __future__ import annotations

import collections
import os
import zlib

import numpy as np

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.yaml_io import read_yaml_mapping

KINDS = ("reverb", "noise", "music", "babble")
#: The noise-set category each additive kind draws from (babble is made of MUSAN speech).
SOURCE_CATEGORY = {"noise": "noise", "music": "music", "babble": "speech"}
CATEGORIES = ("noise", "music", "speech")

DEFAULT_CONFIG = {
    "sample_rate": 16000,
    "prob": 0.6,
    "kinds": {"reverb": 1.0, "noise": 1.0, "music": 1.0, "babble": 1.0},
    "noise": {"snr_db": [0.0, 15.0]},
    "music": {"snr_db": [5.0, 15.0]},
    "babble": {"snr_db": [13.0, 20.0], "num_speakers": [3, 7]},
}

_TINY_POWER = 1e-20


def load_augment_config(source=None):
    """The augmentation config from a YAML path, a dict or None (defaults), checked.

    Unknown keys are errors listing the valid ones; given sections update the defaults.
    """
    where = "augmentation config"
    if source is None:
        given = {}
    elif isinstance(source, dict):
        given = source
    else:
        where = str(source)
        given = read_yaml_mapping(source, what="augmentation options")
    config = {key: (dict(value) if isinstance(value, dict) else value) for key, value in DEFAULT_CONFIG.items()}
    for key, value in given.items():
        if key not in DEFAULT_CONFIG:
            raise BccmtError(f"{where}: unknown key {key!r} (valid: {', '.join(DEFAULT_CONFIG)})")
        if isinstance(DEFAULT_CONFIG[key], dict):
            if not isinstance(value, dict):
                raise BccmtError(f"{where}: key {key!r}: expected a mapping")
            unknown = sorted(set(value) - set(DEFAULT_CONFIG[key]))
            if unknown:
                raise BccmtError(f"{where}: key {key!r}: unknown option(s) {unknown} (valid: {', '.join(DEFAULT_CONFIG[key])})")
            config[key].update(value)
        else:
            config[key] = value
    _check_config(config, where)
    return config


def _check_config(config, where):
    if not 0.0 <= float(config["prob"]) <= 1.0:
        raise BccmtError(f"{where}: key 'prob': must be within [0, 1], got {config['prob']}")
    if any(float(weight) < 0 for weight in config["kinds"].values()):
        raise BccmtError(f"{where}: key 'kinds': weights must be >= 0")
    for kind in ("noise", "music", "babble"):
        low, high = _range(config[kind]["snr_db"], f"{where}: key '{kind}.snr_db'")
        if low > high:
            raise BccmtError(f"{where}: key '{kind}.snr_db': low {low} > high {high}")
    low, high = _range(config["babble"]["num_speakers"], f"{where}: key 'babble.num_speakers'")
    if not 1 <= low <= high or int(low) != low or int(high) != high:
        raise BccmtError(f"{where}: key 'babble.num_speakers': need integers 1 <= low <= high, got {[low, high]}")


def _range(value, where):
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise BccmtError(f"{where}: expected [low, high], got {value!r}")
    return float(value[0]), float(value[1])


def power(samples):
    """Mean power of a signal (mean square)."""
    samples = np.asarray(samples, dtype=np.float64)
    return float(np.mean(samples * samples)) if samples.size else 0.0


def snr_db(speech, noise):
    """SNR in dB of ``speech`` over ``noise`` (whole-signal powers)."""
    return float(10.0 * np.log10(max(power(speech), _TINY_POWER) / max(power(noise), _TINY_POWER)))


def fit_to_length(noise, length, rng):
    """Loop a short noise or crop a long one, from a random offset, to exactly ``length`` samples."""
    noise = np.asarray(noise, dtype=np.float32)
    if noise.size == 0:
        return np.zeros(length, dtype=np.float32)
    if noise.size >= length:
        start = int(rng.integers(0, noise.size - length + 1))
        return noise[start:start + length].copy()
    start = int(rng.integers(0, noise.size))
    repeats = -(-(start + length) // noise.size)
    return np.tile(noise, repeats)[start:start + length]


def scale_to_snr(speech, noise, snr):
    """``noise`` scaled so that ``speech`` over it is ``snr`` dB (unchanged when the noise is silent)."""
    noise_power = power(noise)
    if noise_power < _TINY_POWER:
        return np.asarray(noise, dtype=np.float32)
    gain = np.sqrt(power(speech) / (noise_power * 10.0 ** (snr / 10.0)))
    return (np.asarray(noise, dtype=np.float64) * gain).astype(np.float32)


def mix_at_snr(speech, noise, snr, rng):
    """``speech`` plus ``noise`` (looped or cropped at a random offset) scaled to ``snr`` dB."""
    speech = np.asarray(speech, dtype=np.float32)
    fitted = fit_to_length(noise, speech.size, rng)
    return speech + scale_to_snr(speech, fitted, snr)


def reverberate(speech, rir):
    """Convolve ``speech`` with ``rir``: same length, aligned to the direct path, same energy.

    The direct path is the RIR's strongest tap; the output starts there, so reverberation adds no
    delay, and it is rescaled to the input's power so that levels stay comparable.
    """
    from scipy.signal import fftconvolve

    speech = np.asarray(speech, dtype=np.float32)
    rir = np.asarray(rir, dtype=np.float64)
    if rir.size == 0 or not np.any(rir):
        raise BccmtError("reverberate: the room impulse response is empty or silent")
    direct = int(np.argmax(np.abs(rir)))
    wet = fftconvolve(speech.astype(np.float64), rir)[direct:direct + speech.size]
    wet_power = power(wet)
    if wet_power > _TINY_POWER:
        wet *= np.sqrt(power(speech) / wet_power)
    return wet.astype(np.float32)


def utterance_rng(seed, kind, key):
    """A generator that depends only on (seed, kind, key): outputs do not depend on job splits."""
    return np.random.default_rng([int(seed), KINDS.index(kind), zlib.crc32(key.encode("utf-8"))])


def to_int16(samples):
    """Float samples in [-1, 1] -> int16; a mix that would clip is scaled down as a whole (SNR kept)."""
    samples = np.asarray(samples, dtype=np.float32)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    limit = 32767.0 / 32768.0
    if peak > limit:
        samples = samples * (limit / peak)
    return np.round(samples * 32768.0).clip(-32768, 32767).astype(np.int16)


class AudioCache:
    """Least-recently-used cache of decoded audio, bounded in bytes (MUSAN is tens of GB in full)."""

    def __init__(self, loader, max_bytes=512 * 2**20):
        self.loader = loader
        self.max_bytes = max_bytes
        self._items = collections.OrderedDict()
        self._bytes = 0

    def get(self, key, entry):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        samples = self.loader(entry, key)
        self._items[key] = samples
        self._bytes += samples.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes
        return samples


class Augmenter:
    """Draw and apply augmentations from MUSAN-style noise sets and RIRs.

    ``noise_sets`` maps a category (``noise``, ``music``, ``speech``) to a list of
    ``(key, wav.scp entry)``; ``rirs`` is a list of entries or ``(key, entry)`` pairs. Empty or
    missing categories make their kinds unavailable (babble needs ``speech``, reverb needs RIRs).

    >>> augmenter = Augmenter({"noise": [("n1", "/musan/n1.wav")]}, [], load_augment_config())  # doctest: +SKIP
    >>> augmenter.available_kinds  # doctest: +SKIP
    ['noise']
    >>> noisy, kind = augmenter.augment(samples, kind="noise")  # doctest: +SKIP
    """

    def __init__(self, noise_sets, rirs, config=None, seed=0, loader=None, cache_bytes=512 * 2**20):
        self.config = load_augment_config(config)
        unknown = sorted(set(noise_sets) - set(CATEGORIES))
        if unknown:
            raise BccmtError(f"augmentation: unknown noise categories {unknown} (valid: {', '.join(CATEGORIES)})")
        self.noise_sets = {category: list(noise_sets.get(category) or []) for category in CATEGORIES}
        self.rirs = [item if isinstance(item, tuple) else (f"rir{index}", item) for index, item in enumerate(rirs or [])]
        self.rng = np.random.default_rng(seed)
        self._cache = AudioCache(loader or self._load, cache_bytes)

    @classmethod
    def from_data_dirs(cls, rir_dir=None, noise_dir=None, music_dir=None, speech_dir=None, config=None, seed=0):
        """An augmenter whose sources are the ``wav.scp`` of data dirs (recipe stage 2 outputs).

        A dir that is None or has no ``wav.scp`` is absent, and its kinds are skipped.

        >>> Augmenter.from_data_dirs("data/rirs", "data/musan_noise", "data/musan_music",  # doctest: +SKIP
        ...                          "data/musan_speech", "conf/augment.yaml", seed=1)
        """
        from bccmt_tools.io.datadir import read_kv

        def entries(directory):
            if directory is None or not os.path.isfile(os.path.join(directory, "wav.scp")):
                return []
            return list(read_kv(os.path.join(directory, "wav.scp")).items())

        noise_sets = {"noise": entries(noise_dir), "music": entries(music_dir), "speech": entries(speech_dir)}
        return cls(noise_sets, entries(rir_dir), config, seed)

    def _load(self, entry, key):
        from bccmt_tools.io.audio import read_audio

        return read_audio(entry, sample_rate=int(self.config["sample_rate"]), where=f"augmentation source {key!r}")

    def has_source(self, kind):
        if kind == "reverb":
            return bool(self.rirs)
        return bool(self.noise_sets[SOURCE_CATEGORY[kind]])

    @property
    def available_kinds(self):
        """Kinds with a source and a positive weight, in the order of ``KINDS``."""
        return [kind for kind in KINDS if self.has_source(kind) and float(self.config["kinds"].get(kind, 0)) > 0]

    def augment(self, samples, kind=None, rng=None):
        """Return ``(augmented samples, kind used)``; the output has the input's length.

        With ``kind`` None, the utterance is augmented with probability ``prob`` by a kind drawn
        (by weight) from the available ones, else returned as it is with kind None.
        ``rng`` overrides the augmenter's own generator (for per-utterance reproducibility).
        """
        rng = self.rng if rng is None else rng
        if kind is None:
            kinds = self.available_kinds
            if not kinds or rng.random() >= float(self.config["prob"]):
                return np.asarray(samples, dtype=np.float32), None
            weights = np.array([float(self.config["kinds"][k]) for k in kinds])
            kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        elif kind not in KINDS:
            raise BccmtError(f"augmentation: unknown kind {kind!r} (valid: {', '.join(KINDS)})")
        elif not self.has_source(kind):
            source = "RIRs" if kind == "reverb" else f"MUSAN {SOURCE_CATEGORY[kind]} files"
            raise BccmtError(f"augmentation: kind {kind!r} needs {source}, and there are none")
        samples = np.asarray(samples, dtype=np.float32)
        if kind == "reverb":
            key, entry = self.rirs[int(rng.integers(len(self.rirs)))]
            return reverberate(samples, self._cache.get(key, entry)), kind
        low, high = self.config[kind]["snr_db"]
        snr = float(rng.uniform(low, high))
        if kind == "babble":
            noise = self._babble(samples.size, rng)
            return samples + scale_to_snr(samples, noise, snr), kind
        key, entry = self._pick(self.noise_sets[kind], rng)
        noise = self._cache.get(key, entry)
        if power(noise) < _TINY_POWER:  # the "augmented" copy would be the clean audio, unannounced
            raise BccmtError(f"augmentation: {SOURCE_CATEGORY[kind]} file {key!r} ({entry}) is digital silence: "
                             "remove it from the list (a silent RIR is refused likewise)")
        return mix_at_snr(samples, noise, snr, rng), kind

    def _pick(self, items, rng):
        return items[int(rng.integers(len(items)))]

    def _babble(self, length, rng):
        """The sum of 3-7 (configurable) MUSAN speech files, each looped/cropped to ``length``."""
        low, high = (int(v) for v in self.config["babble"]["num_speakers"])
        count = int(rng.integers(low, high + 1))
        speech_files = self.noise_sets["speech"]
        chosen = rng.choice(len(speech_files), size=count, replace=count > len(speech_files))
        babble = np.zeros(length, dtype=np.float32)
        for index in chosen:
            key, entry = speech_files[int(index)]
            speech = self._cache.get(key, entry)
            if power(speech) < _TINY_POWER:
                raise BccmtError(f"augmentation: speech file {key!r} ({entry}) for babble is digital silence: "
                                 "remove it from the list")
            babble += fit_to_length(speech, length, rng)
        return babble
