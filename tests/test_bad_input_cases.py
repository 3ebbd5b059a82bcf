"""Bad input and faults (issue 13): nothing lost, nothing silently wrong. Corrupt samples,
truncated files, silence and near-empty clips, rate and channel options, empty inputs, data dirs
fixed twice or emptied, training into a used experiment or on one speaker, incomplete enrolments,
rank-deficient LDA/PLDA, a wav.scp given as features, recipe stage numbers."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.embed.extract import ExtractionOptions
from bccmt_tools.embed.speech import speech_features
from bccmt_tools.embed.trial_audio import embed_audio
from bccmt_tools.errors import BccmtError
from bccmt_tools.features.fbank import FbankConfig
from bccmt_tools.features.vad import (DEFAULT_MIN_SPEECH, frame_log_energy, require_speech, speech_seconds,
                                      vad_config_for, voiced_frames)
from bccmt_tools.io.audio import read_audio
from bccmt_tools.io.datadir import read_kv
from bccmt_tools.io.kaldi_table import TableWriter
from bccmt_tools.io.pipes import NO_PIPES_ENV
from conftest import write_wav
from test_dataset import make_feats_dir
from test_extract import make_exp
from test_recipe_stages_1_4 import recipe_copy, run_recipe
from test_train import tiny_config

RATE = 16000


def bccmt(*args):
    return CliRunner().invoke(main, [str(a) for a in args], env={NO_PIPES_ENV: None})


def error_lines(result):
    return [line for line in result.output.splitlines() if line.startswith("Error: ")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    return make_exp(tmp_path_factory.mktemp("exp") / "tiny")


def tone(seconds, freq=220.0, level=0.3, seed=0):
    t = np.arange(int(round(seconds * RATE))) / RATE
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (level * np.sin(2 * np.pi * freq * t) + 0.02 * noise).astype(np.float32)


def float_wav(path, samples, rate=RATE):
    """A 32-bit float wav (the only kind that can hold NaN or huge values)."""
    soundfile.write(str(path), np.asarray(samples, dtype=np.float32), rate, subtype="FLOAT")
    return path


def mean_embedder(feats, lengths):
    """A stand-in for an ONNX model on the torch-free path: the mean of the valid frames."""
    return np.stack([f[:n].mean(axis=0) for f, n in zip(feats, lengths)]).astype(np.float32)


# ---- NaN, infinite and absurd samples ---------------------------------------------------------------

@pytest.mark.parametrize("bad_value, complaint", [(np.nan, "NaN or infinite sample"),
                                                  (np.inf, "NaN or infinite sample"),
                                                  (1e30, "far outside the [-1, 1]")])
def test_corrupt_samples_are_refused_where_audio_is_read(tmp_path, bad_value, complaint):
    samples = tone(1.0)
    samples[8000:8010] = bad_value
    bad = float_wav(tmp_path / "bad.wav", samples)
    good = write_wav(tmp_path / "good.wav", tone(1.0, 300.0))
    (tmp_path / "wav.scp").write_text(f"bad {bad}\ngood {good}\n")
    out = tmp_path / "fbank"
    result = bccmt("compute-fbank", f"scp:{tmp_path}/wav.scp", f"ark,scp:{out}.ark,{out}.scp")
    assert result.exit_code == 1 and error_lines(result) and "key 'bad'" in error_lines(result)[0], result.output
    assert complaint in result.output and not Path(f"{out}.ark").exists()
    result = bccmt("compute-fbank", "--skip-bad", f"scp:{tmp_path}/wav.scp", f"ark,scp:{out}.ark,{out}.scp")
    assert result.exit_code == 0 and "skipped bad" in result.output, result.output
    assert list(read_kv(f"{out}.scp")) == ["good"]
    # The torch-free path (numpy fbank, as `verify --onnx`) refuses it too, through the same check.
    entries = [("bad", str(bad)), ("good", str(good))]
    with pytest.raises(BccmtError, match=f"key 'bad': .*{complaint[:12]}"):
        embed_audio(entries, mean_embedder, FbankConfig(), ExtractionOptions(cmn=False), "wav.scp", "numpy")
    skipped = []
    table = embed_audio(entries, mean_embedder, FbankConfig(), ExtractionOptions(cmn=False), "wav.scp", "numpy",
                        on_error=lambda key, error: skipped.append(key))
    assert skipped == ["bad"] and table.keys == ["good"]


def test_corrupt_samples_stop_extract_embeddings_and_verify(tmp_path, exp_dir):
    samples = tone(1.0)
    samples[100] = np.nan
    (tmp_path / "wav.scp").write_text(f"a {float_wav(tmp_path / 'a.wav', samples)}\n"
                                      f"b {write_wav(tmp_path / 'b.wav', tone(1.0, 300.0))}\n")
    (tmp_path / "trials").write_text("a b\n")
    result = bccmt("extract-embeddings", "--exp", exp_dir, "--device", "cpu", "--input-type", "wav",
                   f"scp:{tmp_path}/wav.scp", f"ark,t:{tmp_path}/emb.txt")
    assert result.exit_code == 1 and "key 'a'" in error_lines(result)[0], result.output
    assert "1 NaN or infinite sample(s), the first at 0.006 s" in error_lines(result)[0]  # named where it is read
    result = bccmt("verify", "--exp", exp_dir, "--device", "cpu", "--wav-scp", tmp_path / "wav.scp",
                   "--trials", tmp_path / "trials", "--threshold", "0.5")
    assert result.exit_code == 1 and "key 'a'" in error_lines(result)[0], result.output
    assert "NaN or infinite sample(s)" in error_lines(result)[0]


def test_truncated_wav_is_read_with_a_warning(tmp_path, capsys):
    full = write_wav(tmp_path / "full.wav", tone(1.0))
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:len(data) // 2])
    samples = read_audio(str(cut), where="wav.scp: key 'cut'")
    warning = capsys.readouterr().err
    assert 7000 < len(samples) < 9000
    assert "WARNING: wav.scp: key 'cut': " in warning and "is truncated" in warning and "16000 frames" in warning
    read_audio(str(full))
    assert capsys.readouterr().err == ""


# ---- silence and near-empty audio ---------------------------------------------------------------------

def test_vad_rejects_silence_and_a_short_clip_and_keeps_speech():
    assert speech_seconds(np.zeros(RATE), RATE) == 0.0
    assert speech_seconds(np.zeros(RATE) + 1e-5 * np.random.default_rng(0).standard_normal(RATE), RATE) == 0.0
    with pytest.raises(BccmtError, match="key 'clip': too little speech: 0.0[0-9] s .* in 0.05 s of audio"):
        require_speech(tone(0.05), RATE, DEFAULT_MIN_SPEECH, "wav.scp: key 'clip'")
    with pytest.raises(BccmtError, match="key 'sil': too little speech: 0.00 s"):
        require_speech(np.zeros(RATE), RATE, DEFAULT_MIN_SPEECH, "wav.scp: key 'sil'")
    assert require_speech(tone(0.6), RATE, DEFAULT_MIN_SPEECH, "x") > 0.5
    assert require_speech(np.zeros(RATE), RATE, 0, "x") is None  # --min-speech 0: no check


def test_real_test_utterances_pass_the_default_speech_check(minivox):
    """The mini corpus's VoxCeleb1 test utterances (1 s words): none falls below the default."""
    wavs = sorted((minivox / "voxceleb1" / "wav").rglob("*.wav"))
    test_speakers = {line.split()[1].split("/")[0] for line in
                     (minivox / "voxceleb1" / "veri_test2.txt").read_text().splitlines() if line.strip()}
    wavs = [wav for wav in wavs if wav.relative_to(minivox / "voxceleb1" / "wav").parts[0] in test_speakers]
    assert len(wavs) > 100
    found = np.array([speech_seconds(read_audio(str(wav)), RATE) for wav in wavs])
    assert (found >= DEFAULT_MIN_SPEECH).all(), found.min()
    clips = [read_audio(str(wav))[8000:8800] for wav in wavs[:50]]  # 0.05 s from the middle
    assert max(speech_seconds(clip, RATE) for clip in clips) < DEFAULT_MIN_SPEECH


def test_verify_and_extract_refuse_silence_by_default(tmp_path, exp_dir):
    keys = {"alice-1": tone(1.0, 220), "alice-2": tone(1.0, 230, seed=1), "silence": np.zeros(RATE),
            "clip": tone(0.05, 220, seed=2)}
    (tmp_path / "wav.scp").write_text("".join(f"{key} {write_wav(tmp_path / f'{key}.wav', x)}\n"
                                              for key, x in keys.items()))
    (tmp_path / "trials").write_text("alice-1 alice-2\nalice-1 silence\nalice-1 clip\n")
    common = ["--exp", exp_dir, "--device", "cpu", "--wav-scp", tmp_path / "wav.scp", "--trials", tmp_path / "trials",
              "--threshold", "-1"]  # a threshold every score passes: only the speech check can reject
    result = bccmt("verify", *common)
    assert result.exit_code == 1 and len(error_lines(result)) == 1, result.output
    assert "key 'silence': too little speech: 0.00 s" in error_lines(result)[0]
    result = bccmt("verify", *common, "--skip-bad")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["alice-1", "alice-2", result.stdout.split()[2], "accept"]
    assert "verify: skipped silence: " in result.output and "verify: skipped clip: " in result.output
    assert "skipped 2 of 3 trials" in result.output
    result = bccmt("verify", *common, "--min-speech", "0")  # the check off: silence is scored (and accepted)
    assert result.exit_code == 0 and result.stdout.count("accept") == 3, result.output

    out = tmp_path / "emb.txt"
    args = ["extract-embeddings", "--exp", exp_dir, "--device", "cpu", "--input-type", "wav",
            f"scp:{tmp_path}/wav.scp", f"ark,t:{out}"]
    result = bccmt(*args)
    assert result.exit_code == 1 and "key 'silence': too little speech" in error_lines(result)[0]
    result = bccmt(*args, "--skip-bad")
    assert result.exit_code == 0 and "2 embeddings written, 2 skipped" in result.output, result.output
    result = bccmt(*args, "--min-speech", "0.5", "--skip-bad")
    assert result.exit_code == 0 and "2 embeddings written" in result.output


def test_vad_trim_keeps_the_voiced_frames_only():
    padded = np.concatenate([np.zeros(RATE), tone(0.5), np.zeros(RATE)])
    [(_, full)] = speech_features([("u", padded)], FbankConfig(), frontend="numpy")
    [(_, trimmed)] = speech_features([("u", padded)], FbankConfig(), frontend="numpy", vad_trim=True)
    config = vad_config_for(FbankConfig())
    voiced = voiced_frames(frame_log_energy(padded, RATE, config), config)
    assert full.shape[0] == voiced.size == 248 and 45 <= trimmed.shape[0] <= 60
    np.testing.assert_array_equal(trimmed, full[voiced])
    where = np.flatnonzero(voiced)  # the tone's frames (1.0 s - 1.5 s), give or take the VAD's context
    assert 95 <= where[0] <= 100 and 145 <= where[-1] <= 152 and where[-1] - where[0] + 1 == where.size


# ---- --resample / --channel on verify and extract-embeddings ----------------------------------------

def test_verify_and_extract_accept_resample_and_channel(tmp_path, exp_dir):
    silent = np.zeros(RATE, dtype=np.float32)  # channel 0: only channel 1 holds speech-like sound
    soundfile.write(str(tmp_path / "low.wav"), np.stack([silent, tone(1.0)], axis=1)[::2], 8000, subtype="PCM_16")
    soundfile.write(str(tmp_path / "two.wav"), np.stack([silent, tone(1.0, 300)], axis=1), RATE, subtype="PCM_16")
    (tmp_path / "wav.scp").write_text(f"low {tmp_path}/low.wav\ntwo {tmp_path}/two.wav\n")
    (tmp_path / "trials").write_text("low two\n")
    common = ["--exp", exp_dir, "--device", "cpu", "--wav-scp", tmp_path / "wav.scp", "--trials", tmp_path / "trials"]
    result = bccmt("verify", *common, "--channel", 1)
    assert result.exit_code == 1 and "sample rate 8000 Hz" in result.output and "with --resample" in result.output
    result = bccmt("verify", *common, "--resample")
    assert result.exit_code == 1 and "has 2 channels; pick one with --channel N" in result.output
    result = bccmt("verify", *common, "--resample", "--channel", 0)  # the silent channel
    assert result.exit_code == 1 and "too little speech" in result.output
    result = bccmt("verify", *common, "--resample", "--channel", 1)
    assert result.exit_code == 0 and result.stdout.split()[:2] == ["low", "two"], result.output
    result = bccmt("extract-embeddings", "--exp", exp_dir, "--device", "cpu", "--input-type", "wav", "--resample",
                   "--channel", 1, f"scp:{tmp_path}/wav.scp", f"ark,t:{tmp_path}/emb.txt")
    assert result.exit_code == 0 and "2 embeddings written" in result.output, result.output


# ---- empty and missing inputs -----------------------------------------------------------------------

def test_empty_wav_scp_is_an_error_not_an_empty_archive(tmp_path):
    (tmp_path / "wav.scp").write_text("")
    out = tmp_path / "fbank"
    result = bccmt("compute-fbank", f"scp:{tmp_path}/wav.scp", f"ark,scp:{out}.ark,{out}.scp")
    assert result.exit_code == 1 and "no utterances" in error_lines(result)[0], result.output
    assert not Path(f"{out}.ark").exists() and not Path(f"{out}.scp").exists()


def _data_dir(path, utts):
    path.mkdir(parents=True)
    (path / "wav.scp").write_text("".join(f"{u} /x/{u}.wav\n" for u in utts))
    (path / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    (path / "spk2utt").write_text("".join(f"{s} {' '.join(u for u in utts if u.startswith(s + '-'))}\n"
                                          for s in sorted({u.split('-')[0] for u in utts})))
    return path


def test_fix_data_dir_twice_keeps_the_first_backup(tmp_path):
    data = _data_dir(tmp_path / "d", ["a-1", "a-2", "b-1"])
    original = (data / "utt2spk").read_text()
    (data / "wav.scp").write_text("a-1 /x/a-1.wav\nb-1 /x/b-1.wav\n")  # a-2 lost its audio
    first_wav = (data / "wav.scp").read_text()
    assert bccmt("fix-data-dir", data).exit_code == 0
    (data / "wav.scp").write_text("b-1 /x/b-1.wav\n")  # and then a-1
    result = bccmt("fix-data-dir", data)
    assert result.exit_code == 0 and f"originals backed up in {data}/.backup.1" in result.output, result.output
    assert (data / ".backup" / "utt2spk").read_text() == original  # the first backup: untouched
    assert (data / ".backup" / "wav.scp").read_text() == first_wav
    assert (data / ".backup.1" / "utt2spk").read_text() == "a-1 a\nb-1 b\n"
    assert read_kv(data / "utt2spk") == {"b-1": "b"}
    assert ".backup.1" in " ".join(bccmt("fix-data-dir", "--help").output.split())


def test_fix_data_dir_refuses_to_empty_a_dir_or_to_run_without_audio_list(tmp_path):
    data = _data_dir(tmp_path / "d", ["a-1", "a-2", "b-1"])
    before = {name: (data / name).read_text() for name in ("utt2spk", "spk2utt")}
    (data / "wav.scp").write_text("")
    result = bccmt("fix-data-dir", data)
    assert result.exit_code == 1 and "would leave no utterances" in error_lines(result)[0], result.output
    assert "missing from wav.scp" in result.output
    assert {name: (data / name).read_text() for name in before} == before and not (data / ".backup").exists()
    (data / "wav.scp").unlink()
    result = bccmt("fix-data-dir", data)
    assert result.exit_code == 1 and "no wav.scp or feats.scp" in error_lines(result)[0], result.output
    assert "kept" not in result.output


# ---- training --------------------------------------------------------------------------------------

def test_train_refuses_an_experiment_with_a_model_unless_resume_or_overwrite(tmp_path):
    import yaml

    data = make_feats_dir(tmp_path / "train", num_speakers=2, utts_per_speaker=4)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": "bccmt", "model_conf": {"size": "tiny"},
                                      "data": {"crop_frames": 32, "batch_size": 8, "num_workers": 0},
                                      "trainer": {"epochs": 1, "keep_checkpoints": 0}}))
    exp = tmp_path / "exp"
    (exp / "checkpoints").mkdir(parents=True)
    old = {"checkpoints/epoch_0003.pt": b"old", "avg_model.pt": b"old", "model.onnx": b"old", "notes.txt": b"x"}
    for name, content in old.items():
        (exp / name).write_bytes(content)
    args = ["train", "--config", config, "--data", data, "--exp", exp, "--device", "cpu", "--no-progress",
            "--num-threads", 1]
    result = bccmt(*args)
    assert result.exit_code == 1 and len(error_lines(result)) == 1, result.output
    assert "already holds a trained model" in result.output and "--resume" in result.output
    assert "--overwrite" in result.output
    assert all((exp / name).read_bytes() == content for name, content in old.items())  # untouched
    assert bccmt(*args, "--resume", "--overwrite").exit_code == 1
    result = bccmt(*args, "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (exp / "avg_model.pt").exists() and not (exp / "model.onnx").exists()
    assert not (exp / "notes.txt").exists()
    assert sorted(p.name for p in (exp / "checkpoints").iterdir()) == ["epoch_0001.pt"]


def test_training_needs_two_speakers_and_warns_about_speakers_with_one_utterance(tmp_path, capsys):
    from bccmt_tools.train.trainer import Trainer

    config = tiny_config(trainer={"epochs": 1})
    one = make_feats_dir(tmp_path / "one", num_speakers=1, utts_per_speaker=8)
    with pytest.raises(BccmtError, match="1 speaker .*needs at least 2 speakers"):
        Trainer(config, one, tmp_path / "exp1", show_progress=False)
    few = make_feats_dir(tmp_path / "few", num_speakers=2, utts_per_speaker=4)
    utt2spk = Path(few) / "utt2spk"
    utt2spk.write_text(utt2spk.read_text().replace("spk1-utt3 spk1", "spk1-utt3 spk9"))
    Trainer(config, few, tmp_path / "exp2", show_progress=False)
    assert "WARNING: " in capsys.readouterr().err
    log = (tmp_path / "exp2" / "log" / "train.log").read_text()
    assert "1 of 3 speakers have fewer than 2 utterances" in log


# ---- scoring back-ends -------------------------------------------------------------------------------

def _embeddings(tmp_path, keys, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    with TableWriter(f"ark,scp:{tmp_path}/emb.ark,{tmp_path}/emb.scp") as writer:
        for key in keys:
            writer[key] = rng.standard_normal(dim).astype(np.float32)
    return f"scp:{tmp_path}/emb.scp"


def test_score_enrolment_with_a_missing_utterance_is_an_error_unless_skip_missing(tmp_path):
    rspec = _embeddings(tmp_path, ["a-1", "a-2", "b-1", "t-1"])
    (tmp_path / "spk2utt").write_text("a a-1 a-2 a-3\nb b-1\n")  # a-3 has no embedding
    (tmp_path / "trials").write_text("a t-1\nb t-1\n")
    args = ["score", "--enroll-spk2utt", tmp_path / "spk2utt", tmp_path / "trials", rspec, rspec]
    result = bccmt(*args, tmp_path / "scores")
    assert result.exit_code == 1 and "key 'a': utterance 'a-3' has no embedding" in error_lines(result)[0]
    assert "2 of its 3 utterances" in result.output and not (tmp_path / "scores").exists()
    result = bccmt(*args, "--skip-missing", tmp_path / "scores")
    assert result.exit_code == 0 and "1 enrolment utterance(s) of 1 speaker(s) have no embedding" in result.output
    assert len((tmp_path / "scores").read_text().splitlines()) == 2


def test_lda_and_plda_refuse_a_singular_within_speaker_covariance(tmp_path):
    keys = [f"s{spk}-u{utt}" for spk in range(4) for utt in range(5)]  # 20 embeddings, 4 speakers, 64 dims
    rspec = _embeddings(tmp_path, keys, dim=64)
    (tmp_path / "utt2spk").write_text("".join(f"{key} {key.split('-')[0]}\n" for key in keys))
    result = bccmt("train-plda", "--utt2spk", tmp_path / "utt2spk", rspec, tmp_path / "plda.npz")
    assert result.exit_code == 1 and "rank 16 < 64" in error_lines(result)[0], result.output
    assert "train-lda --dim 3" in result.output and not (tmp_path / "plda.npz").exists()
    result = bccmt("train-lda", "--utt2spk", tmp_path / "utt2spk", "--dim", 3, rspec, tmp_path / "lda.npz")
    assert result.exit_code == 1 and "LDA needs a full-rank within-speaker covariance" in result.output
    assert not (tmp_path / "lda.npz").exists()


def test_extract_embeddings_recognises_a_wav_scp_given_as_features(tmp_path, exp_dir):
    (tmp_path / "wav.scp").write_text(f"a {write_wav(tmp_path / 'a.wav', tone(1.0))}\n")
    result = bccmt("extract-embeddings", "--exp", exp_dir, "--device", "cpu", f"scp:{tmp_path}/wav.scp",
                   f"ark,t:{tmp_path}/emb.txt")
    assert result.exit_code == 1 and not isinstance(result.exception, (AttributeError, TypeError, ValueError))
    assert "looks like a wav.scp; add --input-type wav" in error_lines(result)[0], result.output


# ---- recipe stage numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, complaint", [
    (("--stage", 99), "--stage 99: there is no such stage (stages are 0-12)"),
    (("--stage", 5, "--stop-stage", 2), "--stage 5 comes after --stop-stage 2: nothing would run"),
    (("--stage", "abc"), "--stage must be a stage number (0-12), got 'abc'"),
    (("--stop-stage", "1x"), "--stop-stage must be a stage number (0-12), got '1x'"),
])
def test_run_sh_validates_stage_numbers(tmp_path, args, complaint):
    work = recipe_copy(tmp_path)
    result = run_recipe(work, *args)
    assert result.returncode == 1 and complaint in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (work / "data").exists()


def test_run_comparison_validates_stage_numbers(tmp_path):
    work = recipe_copy(tmp_path)
    env = dict(os.environ, PATH=f"{Path(os.sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for args, complaint in ((["--stage", "7"], "must be a stage number 1-4, got '7'"),
                            (["--stage", "3", "--stop-stage", "2"], "comes after --stop-stage 2")):
        result = subprocess.run(["bash", "run_compare.sh", *args], cwd=work, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 1 and complaint in result.stderr, result.stderr
    assert not (work / "exp").exists()


def test_run_comparison_presets(tmp_path):
    """An unknown --preset is one line; the gpu preset's file sources cleanly and the script goes on
    to its data check (a copy of the recipe has no data). Run by its old name, local/run_comparison.sh,
    which hands over to run_compare.sh."""
    work = recipe_copy(tmp_path)
    env = dict(os.environ, PATH=f"{Path(os.sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(["bash", "local/run_comparison.sh", "--preset", "tpu"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "--preset must be cpu or gpu, got 'tpu'" in result.stderr
    result = subprocess.run(["bash", "local/run_comparison.sh", "--preset", "gpu", "--stop-stage", "1"], cwd=work,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "data/voxceleb1_dev is missing" in result.stderr, result.stderr


def test_run_comparison_rejects_a_bad_ablation_spec(tmp_path):
    """A model or KD ablation that is not NAME:key=value stops the script before any work, naming it."""
    work = recipe_copy(tmp_path)
    env = dict(os.environ, PATH=f"{Path(os.sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for option in ("--model-ablations", "--kd-ablations"):
        result = subprocess.run(["bash", "run_compare.sh", option, "ok:model_conf.ffn=depthwise nocolon"],
                                cwd=work, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, result.stderr
        assert f"{option}: 'nocolon' is not NAME:key=value[,key=value]" in result.stderr
    assert not (work / "exp").exists()
