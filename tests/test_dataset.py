"""Training data: feats.scp crops, raw-audio crops with augmentation, samplers, bad entries."""

import os

import numpy as np
import pytest
import torch

from bccmt_tools.data.collate import collate_crops
from bccmt_tools.data.dataset import FeatsCropDataset, RawCropDataset, build_augmenter, random_crop
from bccmt_tools.data.sampler import EpochSampler
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.kaldi_table import TableWriter


def make_feats_dir(path, num_speakers=4, utts_per_speaker=6, frames=(30, 80), dim=80, seed=0):
    """A data dir with feats.scp/ark and utt2spk: each speaker has its own mean spectrum (learnable)."""
    rng = np.random.default_rng(seed)
    os.makedirs(path, exist_ok=True)
    profiles = 2.0 * rng.standard_normal((num_speakers, dim)).astype(np.float32)
    utt2spk = {}
    with TableWriter(f"ark,scp:{path}/feats.ark,{path}/feats.scp") as writer:
        for spk in range(num_speakers):
            for utt in range(utts_per_speaker):
                key = f"spk{spk}-utt{utt}"
                length = int(rng.integers(frames[0], frames[1] + 1))
                writer[key] = (profiles[spk] + rng.standard_normal((length, dim))).astype(np.float32)
                utt2spk[key] = f"spk{spk}"
    with open(f"{path}/utt2spk", "w") as handle:
        handle.writelines(f"{utt} {spk}\n" for utt, spk in sorted(utt2spk.items()))
    return str(path)


def test_random_crop_repeats_short_and_crops_long():
    rng = np.random.default_rng(0)
    short = np.arange(4)[:, None]
    assert random_crop(short, 10, rng).ravel().tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    long = np.arange(100)[:, None]
    crop = random_crop(long, 10, rng).ravel()
    assert crop.tolist() == list(range(crop[0], crop[0] + 10))


def test_feats_dataset_crops_normalises_and_is_seeded(tmp_path):
    data = make_feats_dir(tmp_path / "train", frames=(30, 30))
    dataset = FeatsCropDataset(data, crop_frames=20)
    assert dataset.spk2id == {"spk0": 0, "spk1": 1, "spk2": 2, "spk3": 3}
    assert len(dataset) == 24 and dataset.labels[:6] == [0] * 6
    feats, label = dataset[(7, 123)]
    assert feats.shape == (20, 80) and feats.dtype == torch.float32 and label == 1
    whole = dataset.load(7)
    # CMN over the whole utterance: a crop equals the same rows of the normalised utterance.
    normalised = whole - whole.mean(axis=0)
    matches = [np.allclose(feats.numpy(), normalised[s:s + 20], atol=1e-5) for s in range(11)]
    assert sum(matches) == 1
    assert torch.equal(dataset[(7, 123)][0], feats)
    assert any(not torch.equal(dataset[(7, seed)][0], feats) for seed in range(5))
    padded, _ = FeatsCropDataset(data, crop_frames=70)[(0, 1)]
    assert padded.shape == (70, 80) and torch.equal(padded[:30], padded[30:60])


def test_missing_feature_entry_names_its_key(tmp_path):
    data = make_feats_dir(tmp_path / "train")
    with open(f"{data}/utt2spk", "a") as handle:
        handle.write("spk9-extra spk9\n")
    with pytest.raises(BccmtError, match=r"feats.scp: key 'spk9-extra': missing"):
        FeatsCropDataset(data, crop_frames=20)


def test_corrupt_feature_entry_names_its_key(tmp_path):
    data = make_feats_dir(tmp_path / "train")
    lines = open(f"{data}/feats.scp").read().splitlines()
    key = lines[3].split()[0]
    lines[3] = f"{key} {data}/feats.ark:999999999"
    open(f"{data}/feats.scp", "w").write("\n".join(lines) + "\n")
    dataset = FeatsCropDataset(data, crop_frames=20)
    dataset[(0, 1)]
    index = dataset.table.utts.index(key)
    with pytest.raises(BccmtError, match=rf"feats.scp: key '{key}': cannot read"):
        dataset[(index, 1)]


def test_speaker_map_is_kept_and_checked(tmp_path):
    data = make_feats_dir(tmp_path / "train", num_speakers=2)
    assert FeatsCropDataset(data, 10, spk2id={"spk0": 5, "spk1": 3}).labels[0] == 5
    with pytest.raises(BccmtError, match="not in the saved speaker map"):
        FeatsCropDataset(data, 10, spk2id={"spk0": 0})


def test_sampler_is_deterministic_per_epoch_and_splits_ranks():
    labels = [0] * 5 + [1] * 5 + [2]
    sampler = EpochSampler(labels, seed=7)
    sampler.set_epoch(1)
    first = list(sampler)
    assert sorted(i for i, _ in first) == list(range(11))
    assert list(sampler) == first
    sampler.set_epoch(2)
    assert list(sampler) != first
    ranks = [EpochSampler(labels, seed=7, rank=r, world_size=2) for r in (0, 1)]
    for sampler in ranks:
        sampler.set_epoch(1)
    shares = [list(sampler) for sampler in ranks]
    assert len(shares[0]) == len(shares[1]) == 6
    union = {i for share in shares for i, _ in share}
    assert union == set(range(11))
    assert {s for _, s in shares[0]}.isdisjoint({s for _, s in shares[1]})


def test_speaker_balanced_sampler_draws_speakers_evenly():
    labels = [0] * 90 + [1] * 5 + [2] * 5
    sampler = EpochSampler(labels, seed=1, mode="speaker_balanced")
    counts = np.bincount(np.asarray(labels)[[i for i, _ in sampler]], minlength=3)
    assert counts.sum() == 100 and counts.min() > 20


def test_collate_stacks_a_batch(tmp_path):
    dataset = FeatsCropDataset(make_feats_dir(tmp_path / "train"), crop_frames=16)
    batch = collate_crops([dataset[(i, i)] for i in range(3)])
    assert batch["feats"].shape == (3, 16, 80) and batch["lengths"].tolist() == [16] * 3


def _write_wav_dir(path, entries, make_wav, utt2spk=None):
    os.makedirs(path, exist_ok=True)
    with open(f"{path}/wav.scp", "w") as scp:
        for key, seconds, freq in entries:
            scp.write(f"{key} {make_wav(f'{os.path.basename(path)}/{key}.wav', seconds=seconds, freq=freq)}\n")
    if utt2spk:
        with open(f"{path}/utt2spk", "w") as handle:
            handle.writelines(f"{u} {s}\n" for u, s in sorted(utt2spk.items()))
    return str(path)


def test_raw_mode_with_online_augmentation(tmp_path, make_wav):
    train = _write_wav_dir(tmp_path / "train", [("a-1", 0.5, 200.0), ("a-2", 1.2, 300.0), ("b-1", 0.8, 500.0)],
                           make_wav, {"a-1": "a", "a-2": "a", "b-1": "b"})
    noise = _write_wav_dir(tmp_path / "noise", [("n1", 0.3, 1000.0)], make_wav)
    rirs = tmp_path / "rirs"
    os.makedirs(rirs)
    rir = np.zeros(800, dtype=np.float32)
    rir[10], rir[400] = 0.9, 0.3
    import soundfile

    soundfile.write(str(rirs / "r1.wav"), rir, 16000, subtype="PCM_16")
    (rirs / "wav.scp").write_text(f"r1 {rirs}/r1.wav\n")
    augment = {"noise_sets": {"noise": noise}, "rir_sets": [str(rirs)], "options": {"prob": 1.0}}
    augmenter = build_augmenter(augment, seed=0)
    assert augmenter.available_kinds == ["reverb", "noise"]
    clean = RawCropDataset(train, crop_frames=50, fbank_config={}, dither=0.0)
    augmented = RawCropDataset(train, crop_frames=50, fbank_config={}, dither=1.0, augmenter=augmenter)
    feats, label = augmented[(0, 5)]
    assert feats.shape == (50, 80) and label == 0 and torch.isfinite(feats).all()
    assert torch.allclose(feats.mean(dim=0), torch.zeros(80), atol=1e-4)  # CMN over the crop
    assert torch.equal(augmented[(0, 5)][0], feats)  # seeded: crop, augmentation and dither
    assert not torch.allclose(clean[(0, 5)][0], feats, atol=1e-2)
    assert build_augmenter({"noise_sets": {}, "rir_sets": [], "options": {}}) is None


def test_raw_mode_bad_audio_names_its_key(tmp_path, make_wav):
    train = _write_wav_dir(tmp_path / "train", [("a-1", 0.5, 200.0)], make_wav, {"a-1": "a", "a-2": "a"})
    with open(f"{train}/wav.scp", "a") as handle:
        handle.write(f"a-2 {tmp_path}/missing.wav\n")
    dataset = RawCropDataset(train, crop_frames=20, fbank_config={})
    with pytest.raises(BccmtError, match=r"wav.scp: key 'a-2'"):
        dataset[(1, 0)]


# ---- online speed perturbation (data.speed_perturb, raw mode) --------------------------------------

SPEEDS = [0.9, 1.0, 1.1]


def _speed_dir(tmp_path, make_wav):
    """Speakers a (two utterances), b and c; every utterance shorter than a 50-frame crop."""
    return _write_wav_dir(tmp_path / "train", [("a-1", 0.2, 200.0), ("a-2", 0.25, 300.0), ("b-1", 0.3, 400.0),
                                               ("c-1", 0.2, 500.0)], make_wav,
                          {"a-1": "a", "a-2": "a", "b-1": "b", "c-1": "c"})


def test_speed_perturbation_labels_and_speaker_map(tmp_path, make_wav):
    train = _speed_dir(tmp_path, make_wav)
    dataset = RawCropDataset(train, crop_frames=50, fbank_config={}, dither=0.0, speed_perturb=SPEEDS)
    assert dataset.num_speakers == 9 and len(dataset) == 4
    assert dataset.spk2id == {"a": 0, "b": 1, "c": 2, "sp0.9-a": 3, "sp0.9-b": 4, "sp0.9-c": 5,
                              "sp1.1-a": 6, "sp1.1-b": 7, "sp1.1-c": 8}
    assert dataset.labels == [0, 0, 1, 2]  # the speakers' own ids (what the sampler balances)
    assert dataset.speed_blocks == (1.0, 0.9, 1.1)
    seen = set()
    for seed in range(40):
        for index in range(4):
            block = dataset.speed_choice(seed)
            samples, label = dataset.audio((index, seed))
            assert label == dataset.labels[index] + block * 3  # factor 1.0 (block 0) keeps the label
            seen.add(block)
    assert seen == {0, 1, 2}
    # Other orders: 1.0 is block 0 whatever its place, the others follow in the order given.
    reordered = RawCropDataset(train, crop_frames=50, fbank_config={}, speed_perturb=[1.1, 0.9, 1.0])
    assert reordered.speed_blocks == (1.0, 1.1, 0.9) and reordered.spk2id["sp1.1-c"] == 5
    assert RawCropDataset(train, crop_frames=50, fbank_config={}).num_speakers == 3


def test_speed_perturbation_is_seeded_and_keeps_lengths(tmp_path, make_wav):
    from bccmt_tools.data.speed import speed_perturb
    from bccmt_tools.io.audio import read_audio

    train = _speed_dir(tmp_path, make_wav)
    dataset = RawCropDataset(train, crop_frames=50, fbank_config={}, dither=1.0, speed_perturb=SPEEDS)
    plain = RawCropDataset(train, crop_frames=50, fbank_config={}, dither=1.0)
    again = RawCropDataset(train, crop_frames=50, fbank_config={}, dither=1.0, speed_perturb=SPEEDS)
    seeds = {dataset.speed_choice(seed): seed for seed in range(40)}  # a seed for each factor
    wav = read_audio(dataset.table.entries["b-1"])
    for block, seed in sorted(seeds.items()):
        feats, label = dataset[(2, seed)]
        assert feats.shape == (50, 80) and torch.isfinite(feats).all() and label == 1 + 3 * block
        assert torch.equal(again[(2, seed)][0], feats) and again[(2, seed)][1] == label  # per (index, seed)
        samples, _ = dataset.audio((2, seed))
        assert samples.size == dataset.crop_samples == 8240
        # the whole utterance is perturbed, then cropped: here tiled, as it is shorter than the crop
        perturbed = speed_perturb(wav, dataset.speed_blocks[block])
        assert abs(perturbed.size - wav.size / dataset.speed_blocks[block]) < 1
        assert np.array_equal(samples, np.resize(perturbed, samples.size))
        if block == 0:  # factor 1.0: the item of a run without speed perturbation
            assert torch.equal(plain[(2, seed)][0], feats) and plain[(2, seed)][1] == label
        else:
            assert not torch.equal(plain[(2, seed)][0], feats)
    long = _write_wav_dir(tmp_path / "long", [("a-1", 1.0, 200.0), ("b-1", 1.2, 300.0)], make_wav,
                          {"a-1": "a", "b-1": "b"})
    crops = RawCropDataset(long, crop_frames=50, fbank_config={}, speed_perturb=SPEEDS)
    for seed in range(6):
        samples, label = crops.audio((1, seed))
        assert samples.size == crops.crop_samples and label == 1 + 2 * crops.speed_choice(seed)
        assert np.array_equal(crops.audio((1, seed))[0], samples)


def test_speed_perturbation_speaker_map_on_resume_and_collisions(tmp_path, make_wav):
    train = _speed_dir(tmp_path, make_wav)
    first = RawCropDataset(train, crop_frames=20, fbank_config={}, speed_perturb=SPEEDS)
    resumed = RawCropDataset(train, crop_frames=20, fbank_config={}, spk2id=first.spk2id, speed_perturb=SPEEDS)
    assert resumed.spk2id == first.spk2id and resumed.num_speakers == 9 and resumed.block_labels == first.block_labels
    with pytest.raises(BccmtError, match=r"utt2spk: speaker 'sp0.9-a' \(speed 0.9\) is not in the saved speaker map"):
        RawCropDataset(train, crop_frames=20, fbank_config={}, spk2id={"a": 0, "b": 1, "c": 2}, speed_perturb=SPEEDS)
    with pytest.raises(BccmtError, match="must contain 1.0"):
        RawCropDataset(train, crop_frames=20, fbank_config={}, speed_perturb=[0.9, 1.1])
    # An offline-perturbed speaker sp0.9-a beside a: online 0.9 would make it a second time.
    both = _write_wav_dir(tmp_path / "both", [("a-1", 0.2, 200.0), ("sp0.9-a-1", 0.2, 200.0)], make_wav,
                          {"a-1": "a", "sp0.9-a-1": "sp0.9-a"})
    with pytest.raises(BccmtError, match=r"both/utt2spk: speaker 'sp0.9-a' is in the data already"):
        RawCropDataset(both, crop_frames=20, fbank_config={}, speed_perturb=SPEEDS)
    assert RawCropDataset(both, crop_frames=20, fbank_config={}, speed_perturb=[1.0, 1.1]).num_speakers == 4


def test_speed_perturbation_config(tmp_path, make_wav):
    from bccmt_tools.data.dataset import build_dataset
    from bccmt_tools.train.config import resolve_config

    train = _speed_dir(tmp_path, make_wav)
    config = resolve_config({"model": "bccmt", "data": {"type": "raw", "crop_frames": 20,
                                                        "speed_perturb": [0.9, 1, 1.1]}})
    assert config["data"]["speed_perturb"] == [0.9, 1.0, 1.1]
    dataset = build_dataset(config, train)
    assert isinstance(dataset, RawCropDataset) and dataset.num_speakers == 9
    assert resolve_config({"model": "bccmt"})["data"]["speed_perturb"] == []
    for data, message in (({"speed_perturb": SPEEDS}, "needs data.type raw; .*run.sh --speed-perturb true"),
                          ({"type": "raw", "speed_perturb": [0.9, 1.1]}, "must contain 1.0"),
                          ({"type": "raw", "speed_perturb": [1.0, 1.0]}, "the factor 1 twice"),
                          ({"type": "raw", "speed_perturb": [1.0, "fast"]}, "speed factor 'fast'"),
                          ({"type": "raw", "speed_perturb": 1.1}, "expected a list")):
        with pytest.raises(BccmtError, match=rf"^config: key 'data.speed_perturb': .*{message}"):
            resolve_config({"model": "bccmt", "data": data})
