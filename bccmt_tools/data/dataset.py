"""Training datasets: fixed-length random crops from ``feats.scp`` or from raw audio (``wav.scp``).

Items are addressed by ``(index, seed)`` pairs from :mod:`bccmt_tools.data.sampler`; every random
choice of an item (crop offset, dither, augmentation) is drawn from its own seed, so batches do
not depend on the number of DataLoader workers and a resumed run sees the same data.

>>> dataset = FeatsCropDataset("data/train", crop_frames=200)  # doctest: +SKIP
>>> feats, label = dataset[(0, 1234)]  # doctest: +SKIP
>>> feats.shape  # doctest: +SKIP
torch.Size([200, 80])
"""

import os

import numpy as np
import torch

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.cmn import mean_normalize
from bccmt_tools.features.framing import config_window_and_shift, samples_for_frames
from bccmt_tools.features.settings import parse_features
from bccmt_tools.io.datadir import read_kv, read_utt2spk
from bccmt_tools.io.kaldi_table import load_value


def build_spk2id(utt2spk):
    """Speakers sorted (C order) to consecutive class ids."""
    return {spk: index for index, spk in enumerate(sorted(set(utt2spk.values())))}


def random_crop(matrix, length, rng):
    """A ``length``-row crop at a random offset; shorter inputs are repeated (tiled) first.

    >>> random_crop(np.arange(3)[:, None], 7, np.random.default_rng(0)).ravel().tolist()
    [0, 1, 2, 0, 1, 2, 0]
    """
    total = matrix.shape[0]
    if total == 0:
        raise ValueError("cannot crop an empty utterance")
    if total < length:
        return np.concatenate([matrix] * (-(-length // total)), axis=0)[:length]
    start = int(rng.integers(0, total - length + 1))
    return matrix[start:start + length]


class _SpeakerTable:
    """Utterances of a data dir with their speaker ids, checked against a per-utterance table."""

    def __init__(self, data_dir, table_name, spk2id=None):
        self.data_dir = str(data_dir)
        self.table_path = os.path.join(self.data_dir, table_name)
        utt2spk_path = os.path.join(self.data_dir, "utt2spk")
        for path in (self.table_path, utt2spk_path):
            if not os.path.isfile(path):
                raise BccmtError(f"{path}: no such file (needed for training)")
        self.entries = read_kv(self.table_path)
        utt2spk = read_utt2spk(utt2spk_path)
        for utt in utt2spk:
            if utt not in self.entries:
                raise BccmtError(f"{self.table_path}: key {utt!r}: missing (the utterance is in {utt2spk_path}); "
                                 f"run bccmt fix-data-dir {self.data_dir}")
        for utt in self.entries:
            if utt not in utt2spk:
                raise BccmtError(f"{utt2spk_path}: key {utt!r}: missing (the utterance is in {self.table_path})")
        if not utt2spk:
            raise BccmtError(f"{utt2spk_path}: no utterances")
        self.spk2id = dict(spk2id) if spk2id is not None else build_spk2id(utt2spk)
        unknown = sorted(set(utt2spk.values()) - set(self.spk2id))
        if unknown:
            raise BccmtError(f"{utt2spk_path}: speaker {unknown[0]!r} is not in the saved speaker map "
                             f"({len(unknown)} unknown speakers)")
        self.utts = sorted(utt2spk)
        self.speakers = [utt2spk[utt] for utt in self.utts]
        self.labels = [self.spk2id[spk] for spk in self.speakers]

    @property
    def num_speakers(self):
        return len(self.spk2id)

    def __len__(self):
        return len(self.utts)


class _SpeakerDataset(torch.utils.data.Dataset):
    """What both crop datasets share: a ``_SpeakerTable`` as ``self.table`` and its speaker map."""

    spk2id = property(lambda self: self.table.spk2id)
    labels = property(lambda self: self.table.labels)
    num_speakers = property(lambda self: self.table.num_speakers)

    def __len__(self):
        return len(self.table)


class FeatsCropDataset(_SpeakerDataset):
    """Random ``crop_frames`` crops of the ``feats.scp`` of a data dir, mean-normalised per utterance.

    Items are ``(feats [crop_frames, F] float32 tensor, speaker id)``. A feature entry that is
    missing, unreadable, empty or not finite is a BccmtError naming ``feats.scp`` and the key.
    """

    def __init__(self, data_dir, crop_frames, spk2id=None, cmn=True):
        self.table = _SpeakerTable(data_dir, "feats.scp", spk2id)
        self.crop_frames = int(crop_frames)
        self.cmn = bool(cmn)

    def load(self, index):
        """The whole feature matrix of utterance ``index`` (checked)."""
        utt = self.table.utts[index]
        value = self.table.entries[utt]
        where = f"{self.table.table_path}: key {utt!r}"
        feats = np.asarray(load_value(value, where))  # refuses 'cmd |' values under BCCMT_NO_PIPES
        if feats.ndim != 2 or feats.shape[0] == 0:
            raise BccmtError(f"{where}: expected a non-empty feature matrix, got shape {feats.shape}")
        if not np.all(np.isfinite(feats)):
            raise BccmtError(f"{where}: features contain NaN or inf")
        return feats.astype(np.float32, copy=False)

    def __getitem__(self, item):
        index, seed = item
        rng = np.random.default_rng(seed)
        feats = self.load(index)
        if self.cmn:
            feats = mean_normalize(feats)  # over the whole utterance, as at test time
        crop = random_crop(feats, self.crop_frames, rng)
        # a copy: features read from a read-only file map would give a read-only tensor
        return torch.from_numpy(np.array(crop, dtype=np.float32)), self.table.labels[index]


def read_wav_list(data_dir):
    """``[(key, wav.scp entry)]`` of a data dir (for noise and RIR sets)."""
    path = os.path.join(str(data_dir), "wav.scp")
    if not os.path.isfile(path):
        raise BccmtError(f"{path}: no such file (augmentation source)")
    entries = list(read_kv(path).items())
    if not entries:
        raise BccmtError(f"{path}: no entries (augmentation source)")
    return entries


def build_augmenter(augment_config, seed=0):
    """An Augmenter from the ``data.augment`` config section, or None when it names no source."""
    noise_dirs = augment_config.get("noise_sets") or {}
    rir_dirs = augment_config.get("rir_sets") or []
    if not noise_dirs and not rir_dirs:
        return None
    from bccmt_tools.data.augment import Augmenter

    noise_sets = {category: read_wav_list(path) for category, path in noise_dirs.items()}
    rirs = [pair for path in rir_dirs for pair in read_wav_list(path)]
    return Augmenter(noise_sets, rirs, augment_config.get("options") or None, seed=seed)


class RawCropDataset(_SpeakerDataset):
    """Random crops of raw audio (``wav.scp``) with online augmentation and on-the-fly fbank.

    The crop covers exactly ``crop_frames`` fbank frames; short audio is repeated. Augmentation
    (``augmenter``, optional) and dither (``dither``) are drawn from the item's seed. Features are
    mean-normalised over the crop.

    ``speed_perturb`` (``data.speed_perturb``: factors holding 1.0, e.g. ``(0.9, 1.0, 1.1)``; empty:
    off) plays each item at one of the factors, drawn uniformly from the item's seed (apart from
    the crop's draw), over the whole utterance before the crop. Each factor other than 1.0 is a new
    speaker ``sp<f>-<spk>`` (:func:`~bccmt_tools.data.speed.speed_spk2id`): factor 1.0 keeps the
    speaker's id, the k-th other factor adds ``k * N`` (N speakers in the data), so the speaker map
    and ``num_speakers`` span ``N * len(speed_perturb)`` classes. ``labels`` stay the speakers' own
    ids (for the sampler).
    """

    def __init__(self, data_dir, crop_frames, fbank_config, dither=1.0, augmenter=None, spk2id=None, cmn=True,
                 speed_perturb=()):
        import dataclasses

        from bccmt_tools.data.speed import check_speed_factors, speed_prefix, speed_spk2id
        from bccmt_tools.features.fbank import load_fbank_config

        self.table = _SpeakerTable(data_dir, "wav.scp", spk2id)
        self.crop_frames = int(crop_frames)
        self.fbank = dataclasses.replace(load_fbank_config(fbank_config), dither=float(dither))
        self.augmenter = augmenter
        self.cmn = bool(cmn)
        self.crop_samples = samples_for_frames(self.crop_frames, *config_window_and_shift(self.fbank))
        self.speed_factors = check_speed_factors(speed_perturb)
        # label blocks: factor 1.0 (the speakers' own ids) first, then the other factors as given
        self.speed_blocks = (1.0,) + tuple(f for f in self.speed_factors if f != 1.0) if self.speed_factors else ()
        self.block_labels = [self.table.labels]
        if len(self.speed_blocks) > 1:
            utt2spk_path = os.path.join(self.table.data_dir, "utt2spk")
            if spk2id is None:
                try:
                    self.table.spk2id = speed_spk2id(self.table.spk2id, self.speed_blocks)
                except BccmtError as exc:
                    raise BccmtError(f"{utt2spk_path}: {exc.message}") from None
            for factor in self.speed_blocks[1:]:
                names = [speed_prefix(factor) + spk for spk in self.table.speakers]
                unknown = sorted(set(names) - set(self.table.spk2id))
                if unknown:
                    raise BccmtError(f"{utt2spk_path}: speaker {unknown[0]!r} (speed {factor:g}) is not in the saved "
                                     f"speaker map ({len(unknown)} unknown speakers)")
                self.block_labels.append([self.table.spk2id[name] for name in names])

    def speed_choice(self, seed):
        """Index into ``speed_blocks`` of the factor of an item with ``seed`` (0, factor 1.0, when off).

        Drawn from the third child of the item's seed sequence (crop and augmentation use the first
        two), so turning speed perturbation on leaves the other draws of an item as they were.
        """
        if len(self.speed_blocks) < 2:
            return 0
        speed_seed = np.random.SeedSequence(seed).spawn(3)[2]
        return int(np.random.default_rng(speed_seed).integers(len(self.speed_blocks)))

    def audio(self, item):
        """``(samples, label)`` of ``item = (index, seed)``: the crop of ``crop_samples`` samples
        (speed-perturbed and augmented as the seed draws) that the features are computed from."""
        from bccmt_tools.data.speed import speed_perturb
        from bccmt_tools.io.audio import read_audio

        index, seed = item
        utt = self.table.utts[index]
        where = f"{self.table.table_path}: key {utt!r}"
        samples = read_audio(self.table.entries[utt], sample_rate=self.fbank.sample_rate, where=where)
        if samples.size == 0:
            raise BccmtError(f"{where}: empty audio")
        crop_rng, augment_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        block = self.speed_choice(seed)
        if block:
            samples = speed_perturb(samples, self.speed_blocks[block])
        samples = random_crop(samples[:, None], self.crop_samples, crop_rng)[:, 0]
        if self.augmenter is not None:
            samples, _kind = self.augmenter.augment(samples, rng=augment_rng)
        return samples, self.block_labels[block][index]

    def __getitem__(self, item):
        from bccmt_tools.features.fbank import compute_fbank

        _index, seed = item
        samples, label = self.audio(item)
        generator = torch.Generator().manual_seed(int(seed))
        feats = compute_fbank(np.asarray(samples, dtype=np.float32), self.fbank, generator=generator)
        if self.cmn:
            feats = mean_normalize(feats)
        return torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)), label


def build_dataset(config, data_dir, spk2id=None, seed=0):
    """The training dataset of a resolved config (``data.type`` feats or raw)."""
    data = config["data"]
    fbank, cmn = parse_features(config["features"], "train config")
    if data["type"] == "feats":
        return FeatsCropDataset(data_dir, data["crop_frames"], spk2id=spk2id, cmn=cmn)
    augmenter = build_augmenter(data["augment"], seed=seed)
    return RawCropDataset(data_dir, data["crop_frames"], fbank, dither=data["dither"], augmenter=augmenter,
                          spk2id=spk2id, cmn=cmn, speed_perturb=data.get("speed_perturb") or ())
