"""Bad input, round 3 (issue 23): a YAML that expands to billions of values, a PLDA model with NaN
or a wrong shape, a wav header that claims 1 Hz. Each fails in one line, naming the file, before
any heavy work; the other round-3 cases are tested beside the code they touch (pipes in
test_untrusted_input.py, outputs in test_average_model.py, test_profile_export.py and
test_datadir_tools.py)."""

import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bccmt_tools.backend.plda import Plda
from bccmt_tools.cli import main
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.audio import read_audio
from bccmt_tools.io.kaldi_table import TableWriter
from bccmt_tools.io.yaml_io import MAX_EXPANDED_VALUES, read_yaml_mapping
from bccmt_tools.train.config import apply_override

NESTED_ANCHORS = 'model: bccmt\nmodel_conf:\n  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"  {b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))


def bccmt(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_nested_yaml_anchors_are_refused_in_one_short_line(tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(NESTED_ANCHORS)
    assert len(NESTED_ANCHORS) < 2000
    with pytest.raises(BccmtError, match="anchors and aliases expand to 4.9e\\+08 values"):
        read_yaml_mapping(config)
    result = bccmt("train", "--config", config, "--data", tmp_path / "data", "--exp", tmp_path / "exp")
    assert result.exit_code == 1 and len(result.output) < 400, result.output[:400]
    assert not (tmp_path / "exp").exists()
    levels = ["&a [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"&{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")]
    with pytest.raises(BccmtError, match="--set model_conf.x: its YAML anchors"):
        apply_override({}, f"model_conf.x=[{', '.join(levels)}]")
    small = tmp_path / "anchors.yaml"  # ordinary use of anchors still works
    small.write_text("a: &x [1, 2]\nb: *x\n")
    assert read_yaml_mapping(small) == {"a": [1, 2], "b": [1, 2]} and MAX_EXPANDED_VALUES >= 10_000


@pytest.fixture
def plda_setup(tmp_path):
    rng = np.random.default_rng(0)
    keys = [f"spk{s}-u{u}" for s in range(6) for u in range(4)]
    x = np.repeat(rng.standard_normal((6, 8)), 4, axis=0) + 0.3 * rng.standard_normal((24, 8))
    with TableWriter(f"ark,scp:{tmp_path}/emb.ark,{tmp_path}/emb.scp") as writer:
        for key, row in zip(keys, x):
            writer[key] = row.astype(np.float32)
    (tmp_path / "utt2spk").write_text("".join(f"{k} {k.split('-')[0]}\n" for k in keys))
    (tmp_path / "trials").write_text(f"{keys[0]} {keys[1]} target\n{keys[0]} {keys[5]} nontarget\n")
    result = bccmt("train-plda", "--utt2spk", tmp_path / "utt2spk", "--num-iters", 2, f"scp:{tmp_path}/emb.scp",
                   tmp_path / "plda.npz")
    assert result.exit_code == 0, result.output
    return tmp_path


@pytest.mark.parametrize("corrupt, complaint", [
    (lambda a: a["between"].__setitem__((0, 0), np.nan), "'between' of the plda model holds NaN"),
    (lambda a: a["mean"].__setitem__(0, np.nan), "'mean' of the plda model holds NaN"),
    (lambda a: a.__setitem__("within", a["within"][:3, :3]), "'within' of the plda model has shape (3, 3)"),
])
def test_a_corrupt_plda_model_is_refused_not_scored_as_nan(plda_setup, corrupt, complaint):
    path = plda_setup / "plda.npz"
    with np.load(path) as data:
        arrays = {name: data[name].copy() for name in data.files}
    corrupt(arrays)
    np.savez(path, **arrays)
    with pytest.raises(BccmtError, match=complaint.replace("(", "\\(").replace(")", "\\)")):
        Plda.load(path)
    scores = plda_setup / "scores"
    rspec = f"scp:{plda_setup}/emb.scp"
    result = bccmt("score", "--method", "plda", "--plda", path, plda_setup / "trials", rspec, rspec, scores)
    assert result.exit_code == 1 and complaint in result.output, result.output
    assert not scores.exists()


def _wav_with_rate(path, rate, samples):
    """A PCM-16 mono wav whose header claims ``rate`` Hz."""
    data = (np.asarray(samples) * 32767).astype("<i2").tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 1, 1, rate,
                         rate * 2, 2, 16, b"data", len(data))
    path.write_bytes(header + data)
    return path


def test_a_one_hertz_header_is_not_resampled(tmp_path):
    wav = _wav_with_rate(tmp_path / "one_hz.wav", 1, 0.1 * np.sin(np.arange(16000) / 5.0))
    with pytest.raises(BccmtError, match="says its sample rate is 1 Hz: not a rate to resample"):
        read_audio(str(wav), 16000, resample=True, where="wav.scp: key 'u'")
    (tmp_path / "wav.scp").write_text(f"u {wav}\n")
    out = tmp_path / "feats"
    result = bccmt("compute-fbank", "--resample", f"scp:{tmp_path}/wav.scp", f"ark,scp:{out}.ark,{out}.scp")
    assert result.exit_code == 1 and "1 Hz" in result.output, result.output
    assert not (tmp_path / "feats.ark").exists()
    fine = _wav_with_rate(tmp_path / "8k.wav", 8000, 0.1 * np.sin(np.arange(8000) / 5.0))
    assert read_audio(str(fine), 16000, resample=True).size == 16000


# ---- concurrent runs (issue 23, case 5) -----------------------------------------------------------

def test_a_second_training_into_a_busy_experiment_is_refused(tmp_path):
    from bccmt_tools.io.expdir import experiment_lock, lock_path
    from test_dataset import make_feats_dir
    from test_train import tiny_config

    data = make_feats_dir(tmp_path / "train", num_speakers=2, utts_per_speaker=4)
    config = tmp_path / "tiny.yaml"
    import yaml
    config.write_text(yaml.safe_dump(tiny_config()))
    exp = tmp_path / "exp"
    args = ["train", "--config", config, "--data", data, "--exp", exp, "--device", "cpu", "--no-progress",
            "--num-threads", 1, "--epochs", 1]
    with experiment_lock(exp):  # another training holds it (flock: per open file, so this process works)
        for extra in ([], ["--resume"], ["--overwrite"]):
            result = bccmt(*args, *extra)
            assert result.exit_code == 1 and "in use by bccmt train (pid" in result.output, result.output
        assert not (exp / "checkpoints").exists()
    result = bccmt(*args)  # released: the run goes ahead
    assert result.exit_code == 0, result.output
    assert lock_path(exp).is_file() and (exp / "checkpoints" / "epoch_0001.pt").is_file()


def test_a_finished_writer_leaves_a_live_writers_temporary_alone(tmp_path):
    import os
    import subprocess
    import sys

    from bccmt_tools.io.atomic import atomic_write, remove_stale_temporaries, temp_name_for

    out = tmp_path / "feats.ark"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = tmp_path / f".feats.ark.{live.pid}-abcd1234.tmp"  # a concurrent writer's, mid-write
        theirs.write_bytes(b"half an archive")
        dead = tmp_path / ".feats.ark.k1ll3d_1.tmp"  # an older version's, killed
        dead.write_bytes(b"x")
        ours = Path(temp_name_for(out))
        assert ours.name.startswith(f".feats.ark.{os.getpid()}-")
        ours.unlink()
        with atomic_write(out) as handle:
            handle.write("done")
        assert theirs.exists() and not dead.exists() and out.read_text() == "done"
    finally:
        live.kill()
        live.wait()
    assert remove_stale_temporaries(out) == [theirs.name]  # its writer is gone now


def test_a_second_run_sh_in_the_same_folder_is_refused(tmp_path):
    import subprocess

    from test_recipe_stages_1_4 import recipe_copy, run_recipe

    work = recipe_copy(tmp_path)
    (work / "exp").mkdir()
    holder = subprocess.Popen(["flock", str(work / "exp" / ".run.sh.lock"), "sleep", "30"])
    try:
        import time
        deadline = time.time() + 10
        while time.time() < deadline:  # until the holder has the lock
            probe = subprocess.run(["flock", "-n", str(work / "exp" / ".run.sh.lock"), "true"])
            if probe.returncode != 0:
                break
            time.sleep(0.05)
        result = run_recipe(work, "--stage", 2, "--stop-stage", 2, "--data-root", tmp_path)
        assert result.returncode == 1 and "another run.sh is running in" in result.stderr, result.stderr
        assert not (work / "data").exists()
    finally:
        holder.kill()
        holder.wait()


# ---- configs and numbers (issue 23, "bad": each one line naming the key) --------------------------

@pytest.mark.parametrize("override, complaint", [
    ("optim.lr=.nan", "key 'optim.lr': must be a number in"),
    ("data.batch_size=1.5", "key 'data.batch_size': must be a whole number in [1, 65536], got 1.5"),
    ("optim.betas=[2,3]", "key 'optim.betas': must be a number in [0, 0.999999], got 2"),
    ("trainer.seed=abc", "key 'trainer.seed': must be a whole number"),
    ("trainer.epochs=1.5", "key 'trainer.epochs': must be a whole number"),
    ("optim.weight_decay=-1", "key 'optim.weight_decay': must be a number in [0, 1], got -1"),
    ("trainer.amp=maybe", "key 'trainer.amp': must be true or false, got 'maybe'"),
    ("loss.margin=5", "key 'loss.margin': must be a number in [0, 1], got 5"),
    ("data.crop_frames=100000", "key 'data.crop_frames': must be a whole number in [1, 6000], got 100000"),
    ("loss.margin_warmup={start_epoch: 3, end_epoch: 1}", "end_epoch 1 comes before start_epoch 3"),
])
def test_training_config_values_are_checked(tmp_path, override, complaint):
    from bccmt_tools.train.config import load_config

    config = tmp_path / "c.yaml"
    config.write_text("model: bccmt\nmodel_conf: {size: tiny}\n")
    with pytest.raises(BccmtError) as error:
        load_config(config, [override])
    assert complaint in error.value.message and "\n" not in error.value.message, error.value.message


@pytest.mark.parametrize("options, complaint", [
    ({"high_freq": 20000}, "need 0 <= low_freq < high_freq <= 8000"),
    ({"low_freq": 9000}, "need 0 <= low_freq < high_freq <= 8000"),
    ({"preemphasis_coefficient": 5}, "preemphasis_coefficient must be a number in [0, 1]"),
    ({"energy_floor": -1}, "energy_floor must be a number in [0, 1e+10]"),
    ({"num_mel_bins": 100000}, "num_mel_bins must be a number in [1, 1024]"),
])
def test_fbank_options_are_checked(options, complaint):
    from bccmt_tools.features.fbank import load_fbank_config

    with pytest.raises(BccmtError) as error:
        load_fbank_config(options)
    assert complaint in error.value.message
    assert load_fbank_config({"high_freq": -400, "low_freq": 50}).high_freq == -400


@pytest.mark.parametrize("change, complaint", [
    ({"score_weight": -1.0}, "<= 0 would turn higher scores into lower LLRs"),
    ({"score_weight": 1e308}, "non-finite or absurd weights"),
    ({"score_weight": True}, "must be numbers"),
    ({"prior": 1.5}, "is not a probability"),
])
def test_a_calibration_that_would_invert_or_overflow_decisions_is_refused(tmp_path, change, complaint):
    import json

    from bccmt_tools.backend.calibration import Calibration

    good = Calibration(2.0, -1.0).to_dict()
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(dict(good, **change)))
    with pytest.raises(BccmtError, match=complaint):
        Calibration.load(path)


# ---- full disks, long names, bytes that are not UTF-8 ----------------------------------------------

def test_a_full_disk_is_one_line_and_leaves_no_temporaries(tmp_path, make_wav, monkeypatch):
    import errno

    import bccmt_tools.io.kaldi_table as kaldi_table

    wav = make_wav("a.wav")
    (tmp_path / "wav.scp").write_text(f"a {wav}\n")
    out = tmp_path / "out"
    out.mkdir()

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(kaldi_table, "save_ark", full)
    result = bccmt("compute-fbank", f"scp:{tmp_path}/wav.scp", f"ark,scp:{out}/f.ark,{out}/f.scp")
    assert result.exit_code == 1 and "No space left on device" in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert list(out.iterdir()) == []


def test_long_output_names(tmp_path):
    from bccmt_tools.io.atomic import atomic_write, check_writable

    fits = tmp_path / ("n" * 250)  # its temporary would pass 255 bytes without the shortened stem
    with atomic_write(fits) as handle:
        handle.write("x")
    assert fits.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == [fits.name]
    with pytest.raises(BccmtError, match="its name is 300 bytes"):
        check_writable(tmp_path / ("n" * 300))
    result = bccmt("make-trials", tmp_path, tmp_path / ("t" * 300))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output


def test_a_wav_scp_that_is_not_utf8_names_the_line(tmp_path, make_wav):
    wav = make_wav("a.wav")
    (tmp_path / "wav.scp").write_bytes(b"a " + str(wav).encode() + b"\nb\xff\xfe " + str(wav).encode() + b"\n")
    out = tmp_path / "f"
    result = bccmt("compute-fbank", f"scp:{tmp_path}/wav.scp", f"ark,scp:{out}.ark,{out}.scp")
    assert result.exit_code == 1 and "not UTF-8" in result.output and "Traceback" not in result.output, result.output


# ---- ONNX models that do not say what they compute (issue 23, "bad") -------------------------------

def _onnx_with(tmp_path, name, edit):
    import onnx

    model = onnx.load(str(Path(__file__).resolve().parents[1] / "models/minivox/student_tiny_kd/model.onnx"))
    edit(model)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_onnx_metadata_that_disagree_with_the_model_are_refused(tmp_path, make_wav):
    import json

    def forty_bins(model):
        for prop in model.metadata_props:
            if prop.key == "bccmt.features":
                prop.value = json.dumps(dict(json.loads(prop.value), num_mel_bins=40))

    path = _onnx_with(tmp_path, "edited.onnx", forty_bins)
    wav = make_wav("s1-a.wav", seconds=2.0)
    (tmp_path / "wav.scp").write_text(f"s1-a {wav}\ns1-b {wav}\n")
    (tmp_path / "trials").write_text("s1-a s1-b target\n")
    result = bccmt("verify", "--onnx", path, "--wav-scp", tmp_path / "wav.scp", "--trials", tmp_path / "trials")
    assert result.exit_code == 1 and "metadata give 40-dim features, but the model takes 80" in result.output, \
        result.output
    assert "Traceback" not in result.output


def test_an_onnx_model_without_one_vector_per_utterance_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["feats"], ["embeddings"], axes=[1, 2], keepdims=0)], "flat",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["batch", "frames", 80]),
         helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch"])])
    path = tmp_path / "flat.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    from bccmt_tools.embed.extract import OnnxEmbedder

    with pytest.raises(BccmtError, match="has shape \\['batch'\\]; an embedding model's is \\[B, D\\]"):
        OnnxEmbedder(path)


def test_profile_lengths_are_bounded():
    for seconds in ("nan", "600", "0", "1,inf"):
        result = bccmt("profile", "--config", Path(__file__).resolve().parents[1] / "bccmt_tools/conf/models/bccmt_tiny.yaml",
                       "--seconds", seconds, "--no-latency")
        assert result.exit_code == 1 and "--seconds: lengths must be above" in result.output, (seconds, result.output)


def test_a_subset_list_naming_no_id_of_the_data_dir_is_an_error(tmp_path):
    from bccmt_tools.io.datadir import DataDir

    data = DataDir.write(tmp_path / "d", wav_scp={"s1-a": "/a.wav"}, utt2spk={"s1-a": "s1"}).path
    (tmp_path / "list").write_text("nobody\n")
    result = bccmt("subset-data-dir", "--utt-list", tmp_path / "list", data, tmp_path / "out")
    assert result.exit_code == 1 and "the subset would be empty" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import torch

    from bccmt_tools.train import checkpoint

    def full(_state, target):
        Path(target).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 128 vs 0")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(BccmtError, match="epoch_0001.pt: cannot write the checkpoint .*nothing was written"):
        checkpoint.save_checkpoint({"model": {}}, tmp_path / "checkpoints" / "epoch_0001.pt")
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_an_experiment_whose_features_disagree_with_its_model_is_refused(tmp_path):
    import yaml

    from bccmt_tools.models.experiment import load_model_from_exp
    from test_extract import make_exp

    exp = make_exp(tmp_path / "exp")
    config = yaml.safe_load((exp / "config.yaml").read_text())
    config["features"]["num_mel_bins"] = 40
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(BccmtError, match="40-dim features, but the model takes 80"):
        load_model_from_exp(exp)


def test_resample_works_without_torch(tmp_path):
    """Issue 23: verify --onnx --resample failed with ModuleNotFoundError: torch."""
    import subprocess
    import sys

    wav = _wav_with_rate(tmp_path / "8k.wav", 8000, 0.1 * np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000))
    out = tmp_path / "free.npy"
    code = ("import sys\nsys.modules['torch'] = None\nsys.modules['torchaudio'] = None\nimport numpy as np\n"
            "from bccmt_tools.io.audio import read_audio\n"
            f"np.save({str(out)!r}, read_audio({str(wav)!r}, 16000, resample=True))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    free, with_torch = np.load(out), read_audio(str(wav), 16000, resample=True)
    assert free.shape == with_torch.shape == (16000,)
    assert np.abs(free[500:-500] - with_torch[500:-500]).max() < 2e-3


def test_long_audio_is_resampled_in_bounded_blocks(monkeypatch):
    """Issue 23: 3 hours at 8 kHz through --resample peaked at 7.3 GB (torchaudio holds copies of it)."""
    import bccmt_tools.io.audio as audio
    from bccmt_tools.io import resample

    monkeypatch.setattr(audio, "MAX_WHOLE_RESAMPLE_SECONDS", 1.0)
    monkeypatch.setattr(resample, "BLOCK", 1000)  # many blocks: their seams must not show
    tone = (0.1 * np.sin(2 * np.pi * 300 * np.arange(8000 * 3) / 8000)).astype(np.float32)
    blocks = audio.resample_audio(tone, 8000, 16000)
    monkeypatch.setattr(audio, "MAX_WHOLE_RESAMPLE_SECONDS", 600.0)
    whole = audio.resample_audio(tone, 8000, 16000)  # torchaudio
    assert blocks.shape == whole.shape and np.abs(blocks[500:-500] - whole[500:-500]).max() < 2e-3
