"""Augmentation (bccmt_tools.data.augment) and the augment-data-dir tool."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bccmt_tools.bin.augment_data_dir import cli as augment_cli, select_utterances
from bccmt_tools.data.augment import (
    Augmenter,
    fit_to_length,
    load_augment_config,
    mix_at_snr,
    reverberate,
    snr_db,
    to_int16,
)
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.kaldi_table import read_table

REPO = Path(__file__).resolve().parents[1]
AUGMENT_YAML = REPO / "egs" / "voxceleb" / "conf" / "augment.yaml"


@pytest.mark.parametrize("noise_length", [3000, 16000, 50000])  # looped, exact, cropped
@pytest.mark.parametrize("snr", [0.0, 7.5, 15.0])
def test_mix_at_snr_keeps_length_and_hits_the_snr(rng, noise_length, snr):
    speech = 0.1 * rng.standard_normal(16000).astype(np.float32)
    noise = 0.3 * rng.standard_normal(noise_length).astype(np.float32)
    mixed = mix_at_snr(speech, noise, snr, rng)
    assert mixed.shape == speech.shape and mixed.dtype == np.float32
    assert abs(snr_db(speech, mixed - speech) - snr) < 0.5


def test_fit_to_length_loops_short_noise_from_a_random_offset(rng):
    noise = np.arange(10, dtype=np.float32)
    fitted = fit_to_length(noise, 25, rng)
    assert fitted.shape == (25,)
    start = int(fitted[0])
    assert np.array_equal(fitted, (start + np.arange(25)) % 10)
    crop = fit_to_length(np.arange(100, dtype=np.float32), 30, rng)
    assert np.array_equal(crop, crop[0] + np.arange(30))


def test_silent_noise_leaves_speech_unchanged(rng):
    speech = rng.standard_normal(1000).astype(np.float32)
    assert np.array_equal(mix_at_snr(speech, np.zeros(500, np.float32), 5.0, rng), speech)


def test_reverberate_keeps_length_energy_and_aligns_to_direct_path(rng):
    speech = rng.standard_normal(16000).astype(np.float32)
    delayed_impulse = np.zeros(4000)
    delayed_impulse[123] = 0.5
    assert np.allclose(reverberate(speech, delayed_impulse), speech, atol=1e-5)

    rir = np.exp(-np.arange(8000) / 800.0) * rng.standard_normal(8000)
    wet = reverberate(speech, rir)
    assert wet.shape == speech.shape
    assert np.mean(wet**2) == pytest.approx(np.mean(speech**2), rel=1e-4)
    assert not np.allclose(wet, speech)


def test_to_int16_scales_down_instead_of_clipping():
    out = to_int16(np.array([0.5, -2.0, 1.0], dtype=np.float32))
    assert out.dtype == np.int16 and out[1] == -32767 and out[0] == pytest.approx(-out[1] / 4, abs=1)


def _noise_sets(rng, categories=("noise", "speech")):
    """In-memory sources: entries are looked up by a stub loader instead of files."""
    audio = {}
    sets = {}
    for category in categories:
        sets[category] = []
        for index in range(8):
            key = f"{category}{index}"
            audio[key] = (0.2 * rng.standard_normal(int(rng.integers(4000, 30000)))).astype(np.float32)
            sets[category].append((key, key))
    rirs = []
    for index in range(3):
        key = f"rir{index}"
        audio[key] = np.exp(-np.arange(2000) / 300.0) * rng.standard_normal(2000)
        rirs.append((key, key))
    return sets, rirs, (lambda entry, key: audio[entry])


def test_augmenter_kinds_keep_length_and_babble_hits_its_range(rng):
    sets, rirs, loader = _noise_sets(rng)
    augmenter = Augmenter(sets, rirs, load_augment_config(AUGMENT_YAML), seed=3, loader=loader)
    speech = 0.1 * rng.standard_normal(24000).astype(np.float32)
    for kind in ("reverb", "noise", "babble"):
        out, used = augmenter.augment(speech, kind=kind)
        assert used == kind and out.shape == speech.shape
        if kind != "reverb":
            low, high = augmenter.config[kind]["snr_db"]
            assert low - 0.5 <= snr_db(speech, out - speech) <= high + 0.5


def test_absent_categories_are_skipped_and_refused_when_asked_for(rng):
    sets, rirs, loader = _noise_sets(rng)  # no music
    augmenter = Augmenter(sets, rirs, {"prob": 1.0}, seed=0, loader=loader)
    assert augmenter.available_kinds == ["reverb", "noise", "babble"]
    speech = rng.standard_normal(8000).astype(np.float32)
    used = {augmenter.augment(speech)[1] for _ in range(60)}
    assert used == {"reverb", "noise", "babble"}
    with pytest.raises(BccmtError, match="music"):
        augmenter.augment(speech, kind="music")
    assert Augmenter({}, [], {"prob": 1.0}).augment(speech) == (pytest.approx(speech), None)


def test_same_seed_same_output(rng):
    sets, rirs, loader = _noise_sets(rng)
    speech = rng.standard_normal(8000).astype(np.float32)
    first = [Augmenter(sets, rirs, None, seed=11, loader=loader).augment(speech) for _ in range(2)]
    assert first[0][1] == first[1][1] and np.array_equal(first[0][0], first[1][0])
    outputs = {Augmenter(sets, rirs, {"prob": 1.0}, seed=s, loader=loader).augment(speech, "noise")[0].tobytes()
               for s in range(4)}
    assert len(outputs) == 4


def test_config_rejects_unknown_keys_and_bad_ranges():
    with pytest.raises(BccmtError, match="unknown key 'snr'"):
        load_augment_config({"snr": 3})
    with pytest.raises(BccmtError, match="unknown option"):
        load_augment_config({"noise": {"snr": [0, 1]}})
    with pytest.raises(BccmtError, match="low 9.0 > high 1.0"):
        load_augment_config({"music": {"snr_db": [9, 1]}})
    config = load_augment_config(AUGMENT_YAML)
    assert config["babble"] == {"snr_db": [13, 20], "num_speakers": [3, 7]}


# ---- the tool, on small synthetic data dirs ------------------------------------------------------

def _data_dir(path, wavs, speakers):
    path.mkdir(parents=True, exist_ok=True)
    keys = sorted(wavs)
    (path / "wav.scp").write_text("".join(f"{k} {wavs[k]}\n" for k in keys))
    (path / "utt2spk").write_text("".join(f"{k} {speakers[k]}\n" for k in keys))
    return path


@pytest.fixture
def corpus(tmp_path, make_wav):
    wavs = {f"spk{s}-u{u}": make_wav(f"in/spk{s}-u{u}.wav", seconds=0.5 + 0.25 * u, freq=200 + 50 * s)
            for s in range(2) for u in range(3)}
    train = _data_dir(tmp_path / "data" / "train", wavs, {k: k.split("-")[0] for k in wavs})
    noise = {f"n{i}": make_wav(f"noise/n{i}.wav", seconds=0.3, freq=900 + 100 * i) for i in range(3)}
    rirs = {"room-1": make_wav("rir/room-1.wav", seconds=0.2, freq=3000)}
    return {
        "train": train,
        "noise": _data_dir(tmp_path / "data" / "musan_noise", noise, {k: k for k in noise}),
        "rirs": _data_dir(tmp_path / "data" / "rirs", rirs, {k: k for k in rirs}),
        "tmp": tmp_path,
    }


def _run(*args):
    result = CliRunner().invoke(augment_cli, [str(a) for a in args], catch_exceptions=False)
    return result


def _lengths(wav_scp):
    from bccmt_tools.io.audio import iter_wav_scp

    return {key: samples.size for key, samples in iter_wav_scp(str(wav_scp))}


@pytest.mark.parametrize("kind, source", [("noise", "--noise-dir"), ("reverb", "--rir-dir")])
def test_augment_data_dir_writes_a_valid_same_length_copy(corpus, kind, source):
    out = corpus["tmp"] / "data" / f"train_{kind}"
    result = _run("--kind", kind, source, corpus["noise" if kind == "noise" else "rirs"], "--seed", 5,
                  corpus["train"], out, corpus["tmp"] / "wav")
    assert result.exit_code == 0, result.output
    clean = _lengths(corpus["train"] / "wav.scp")
    augmented = _lengths(out / "wav.scp")
    assert augmented == {f"{key}-{kind}": n for key, n in clean.items()}
    first_entry = (out / "wav.scp").read_text().splitlines()[0].split(None, 1)[1]
    assert first_entry.startswith(str((corpus["tmp"] / "wav").resolve())) and ".ark:" in first_entry
    utt2spk = dict(line.split() for line in (out / "utt2spk").read_text().splitlines())
    assert utt2spk == {f"{k}-{kind}": k.split("-")[0] for k in clean}
    assert (out / "spk2utt").read_text().startswith("spk0 spk0-u0-" + kind)
    assert not list((corpus["tmp"] / "data").glob(".train_*"))  # no temp dir left behind


def test_augment_data_dir_is_reproducible_and_independent_of_job_split(corpus):
    common = ["--kind", "noise", "--noise-dir", corpus["noise"], "--seed", 7, "--num-utts", 4]
    _run(*common, corpus["train"], corpus["tmp"] / "a", corpus["tmp"] / "wav")
    _run(*common, corpus["train"], corpus["tmp"] / "b", corpus["tmp"] / "wav")
    for job in (1, 2):
        _run(*common, "--job", job, "--num-jobs", 2, corpus["train"], corpus["tmp"] / f"s{job}", corpus["tmp"] / "wav")
    tables = {name: dict((k, v[1]) for k, v in read_table(f"scp:{corpus['tmp'] / name / 'wav.scp'}"))
              for name in ("a", "b", "s1", "s2")}
    assert len(tables["a"]) == 4 and tables["a"].keys() == tables["b"].keys()
    assert all(np.array_equal(tables["a"][k], tables["b"][k]) for k in tables["a"])
    shards = {**tables["s1"], **tables["s2"]}
    assert shards.keys() == tables["a"].keys()
    assert all(np.array_equal(shards[k], tables["a"][k]) for k in shards)
    other_seed = _run("--kind", "noise", "--noise-dir", corpus["noise"], "--seed", 8, "--num-utts", 4,
                      corpus["train"], corpus["tmp"] / "c", corpus["tmp"] / "wav")
    assert other_seed.exit_code == 0
    assert select_utterances(tables["a"], 2, 0, "noise") == select_utterances(tables["a"], 2, 0, "noise")


def test_augment_data_dir_names_the_missing_source(corpus):
    result = CliRunner().invoke(augment_cli, ["--kind", "music", str(corpus["train"]), str(corpus["tmp"] / "m"),
                                              str(corpus["tmp"] / "wav")])
    assert result.exit_code == 1 and "--music-dir" in result.output
    result = CliRunner().invoke(augment_cli, ["--kind", "music", "--music-dir", str(corpus["tmp"] / "nope"),
                                              str(corpus["train"]), str(corpus["tmp"] / "m"), str(corpus["tmp"] / "wav")])
    assert result.exit_code == 1 and "nope/wav.scp: no such file" in result.output
    assert not (corpus["tmp"] / "m").exists()


def test_from_data_dirs_skips_absent_dirs(corpus):
    augmenter = Augmenter.from_data_dirs(rir_dir=corpus["rirs"], noise_dir=corpus["noise"],
                                         music_dir=corpus["tmp"] / "absent", speech_dir=None, seed=1)
    assert augmenter.available_kinds == ["reverb", "noise"]
    samples = np.zeros(8000, dtype=np.float32)
    samples[::100] = 0.5
    out, kind = augmenter.augment(samples, kind="noise")
    assert kind == "noise" and out.shape == samples.shape and not np.array_equal(out, samples)


@pytest.mark.parametrize("kind, category", [("noise", "noise"), ("babble", "speech")])
def test_a_silent_noise_or_speech_file_is_refused_not_mixed_in(rng, kind, category):
    """Issue 23: a noise folder of digital silence made copies identical to the clean audio."""
    silent = {f"{category}{i}": np.zeros(4000, np.float32) for i in range(3)}
    sets = {category: [(key, key) for key in silent]}
    augmenter = Augmenter(sets, [], {"prob": 1.0}, seed=0, loader=lambda entry, key: silent[entry])
    with pytest.raises(BccmtError, match=f"{category} file '{category}\\d'.*is digital silence"):
        augmenter.augment(0.1 * rng.standard_normal(8000).astype(np.float32), kind=kind)
