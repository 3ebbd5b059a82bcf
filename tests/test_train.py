"""The trainer end to end on tiny data: loss goes down, outputs, distillation, bad input, NaN stop."""

import pytest
import torch
import yaml
from click.testing import CliRunner

from bccmt_tools.errors import BccmtError
from bccmt_tools.train.checkpoint import average_checkpoints, list_epoch_checkpoints, save_checkpoint
from bccmt_tools.train.config import resolve_config
from bccmt_tools.train.trainer import Trainer
from test_dataset import make_feats_dir


def tiny_config(**sections):
    given = {
        "model": "bccmt",
        "model_conf": {"size": "tiny"},
        "data": {"crop_frames": 32, "batch_size": 8, "num_workers": 0},
        "optim": {"lr": 5e-3},
        "scheduler": {"warmup_epochs": 0.0},
        "trainer": {"epochs": 2, "log_interval": 1, "keep_checkpoints": 0},
    }
    for name, values in sections.items():
        given.setdefault(name, {})
        if isinstance(values, dict):
            given[name].update(values)
        else:
            given[name] = values
    return resolve_config(given)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_loss_decreases_and_outputs_are_complete(tmp_path):
    data = make_feats_dir(tmp_path / "train")
    exp = tmp_path / "exp"
    config = tiny_config(trainer={"epochs": 5, "keep_checkpoints": 3})
    summaries = Trainer(config, data, exp, show_progress=False).run()
    assert len(summaries) == 5
    assert summaries[-1]["aam"] < summaries[0]["aam"] - 0.5
    assert summaries[-1]["acc"] > summaries[0]["acc"]
    saved = yaml.safe_load((exp / "config.yaml").read_text())
    for key in ("model", "model_conf", "features", "data", "loss", "kd", "optim", "scheduler", "trainer"):
        assert key in saved
    assert saved["features"]["cmn"] is True and saved["features"]["num_mel_bins"] == 80
    assert saved["model_conf"]["depths"] == [2, 2, 4, 2]  # resolved, not just "size: tiny"
    assert [epoch for epoch, _ in list_epoch_checkpoints(exp)] == [3, 4, 5]
    state = torch.load(exp / "checkpoints" / "epoch_0005.pt", weights_only=False)
    for key in ("model", "classifier", "optimizer", "scheduler", "scaler", "epoch", "step", "rng", "spk2id", "config"):
        assert key in state
    assert state["epoch"] == 5 and state["step"] == 15 and state["spk2id"]["spk3"] == 3
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    log = (exp / "log" / "train.log").read_text()
    epoch_lines = [line for line in log.splitlines() if " epoch 5/5 " in line]
    assert epoch_lines and all(word in epoch_lines[0] for word in ("aam", "acc", "lr", "samples/s"))
    assert not list(exp.rglob("*.tmp"))


@pytest.mark.parametrize("cpu_amp", [False, True])
def test_cpu_amp_runs_the_network_in_bfloat16_and_the_loss_head_in_float32(tmp_path, cpu_amp):
    """trainer.cpu_amp: convolutions see bfloat16 on a CPU, the AAM margin stays float32, loss falls."""
    data = make_feats_dir(tmp_path / "train")
    trainer = Trainer(tiny_config(trainer={"epochs": 4, "cpu_amp": cpu_amp}), data, tmp_path / "exp",
                      show_progress=False)
    seen = {}

    def note(name, tensor):
        seen.setdefault(name, tensor.dtype)  # a hook that returns None leaves the output alone

    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda module, inputs, output: note("conv", output))
    trainer.objective.classifier.register_forward_hook(lambda module, inputs, output: note("head", output[0]))
    summaries = trainer.run()
    assert seen == {"conv": torch.bfloat16 if cpu_amp else torch.float32, "head": torch.float32}
    assert summaries[-1]["aam"] < summaries[0]["aam"]
    assert all(torch.isfinite(torch.tensor(s["loss"])) for s in summaries)


def test_distillation_logs_every_term_and_checks_the_teacher(tmp_path):
    data = make_feats_dir(tmp_path / "train")
    teacher = tmp_path / "teacher"
    Trainer(tiny_config(trainer={"epochs": 1}), data, teacher, show_progress=False).run()
    save_checkpoint(average_checkpoints(teacher, 1), teacher / "avg_model.pt")
    kd = {"attention": {"weight": 1.0}, "embedding": {"weight": 0.5}, "logit": {"weight": 0.5}}
    config = tiny_config(kd=kd, model_conf={"size": "tiny", "embedding_dim": 96})
    student = Trainer(config, data, tmp_path / "student", teacher_dir=teacher, show_progress=False)
    assert isinstance(student.objective.embedding_kd.projection, torch.nn.Linear)  # 96 -> 192
    summaries = student.run()
    for term in ("aam", "kd_attention", "kd_embedding", "kd_logit"):
        assert summaries[0][term] > 0
    assert summaries[0]["loss"] == pytest.approx(summaries[0]["aam"] + summaries[0]["kd_attention"]
                                                 + 0.5 * summaries[0]["kd_embedding"]
                                                 + 0.5 * summaries[0]["kd_logit"], rel=1e-4)
    log = (tmp_path / "student" / "log" / "train.log").read_text()
    assert "kd_attention" in log and "kd_logit" in log and "teacher" in log
    saved = yaml.safe_load((tmp_path / "student" / "config.yaml").read_text())
    assert saved["kd"]["teacher"] == str(teacher)
    assert torch.load(tmp_path / "student" / "checkpoints" / "epoch_0002.pt", weights_only=False)["kd"] is not None

    other = make_feats_dir(tmp_path / "other", num_speakers=3)
    with pytest.raises(BccmtError, match="speaker map .* differs"):
        Trainer(tiny_config(kd=kd), other, tmp_path / "s2", teacher_dir=teacher, show_progress=False)
    conventional = tiny_config(model_conf={"size": "tiny", "attention": "spectro_temporal"})
    with pytest.raises(BccmtError, match="map shapes differ"):
        Trainer(conventional, data, tmp_path / "s3", teacher_dir=teacher, show_progress=False).run()
    with pytest.raises(BccmtError, match="different features .*frame_shift: student 20.0 vs teacher 10.0"):
        Trainer(tiny_config(features={"frame_shift": 20.0}), data, tmp_path / "s4", teacher_dir=teacher,
                show_progress=False)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    data = make_feats_dir(tmp_path / "train")
    exp = tmp_path / "exp"
    trainer = Trainer(tiny_config(), data, exp, show_progress=False)
    original = trainer.objective.forward

    def poisoned(*args, **kwargs):
        loss, terms, logits = original(*args, **kwargs)
        if trainer.step >= trainer.steps_per_epoch + 1:
            loss = loss * float("nan")
        return loss, terms, logits

    monkeypatch.setattr(trainer.objective, "forward", poisoned)
    with pytest.raises(BccmtError, match=r"non-finite loss at step 5 .*epoch_0001.pt"):
        trainer.run()
    assert [epoch for epoch, _ in list_epoch_checkpoints(exp)] == [1]
    torch.load(exp / "checkpoints" / "epoch_0001.pt", weights_only=False)


def test_cli_trains_and_reports_bad_feature_entries(tmp_path, monkeypatch):
    from bccmt_tools.bin.train import cli
    from bccmt_tools.train import allocator

    kept = []  # training on the CPU keeps freed memory (bccmt_tools.train.allocator); not in the test process
    monkeypatch.setattr(allocator, "retain_freed_memory", lambda: kept.append(True))

    data = make_feats_dir(tmp_path / "train", num_speakers=2, utts_per_speaker=4)
    config = tmp_path / "train.yaml"
    config.write_text("model: bccmt\nmodel_conf: {size: tiny}\ndata: {crop_frames: 24, batch_size: 4}\n"
                      "trainer: {epochs: 1}\n")
    runner = CliRunner()
    base = ["--config", str(config), "--data", data, "--device", "cpu", "--no-progress", "--num-workers", "1"]
    result = runner.invoke(cli, base + ["--exp", str(tmp_path / "ok"), "--set", "optim.lr=0.002"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((tmp_path / "ok" / "config.yaml").read_text())["optim"]["lr"] == 0.002
    assert kept == [True]
    # --print-config prints what the run wrote to config.yaml, byte for byte, and needs no --exp.
    printed = runner.invoke(cli, base + ["--set", "optim.lr=0.002", "--print-config"])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == (tmp_path / "ok" / "config.yaml").read_text()
    missing = runner.invoke(cli, base)
    assert missing.exit_code == 2 and "Missing option '--exp'" in missing.output
    lines = open(f"{data}/feats.scp").read().splitlines()
    key = lines[1].split()[0]
    lines[1] = f"{key} {data}/feats.ark:123456789"
    open(f"{data}/feats.scp", "w").write("\n".join(lines) + "\n")
    result = runner.invoke(cli, base + ["--exp", str(tmp_path / "bad")])
    assert result.exit_code == 1
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: ") and f"feats.scp: key '{key}': cannot read" in message
    assert "Traceback" not in result.output
    result = runner.invoke(cli, base + ["--exp", str(tmp_path / "bad2"), "--set", "optim.lrate=1"])
    assert result.exit_code == 1 and "unknown key 'optim.lrate'" in result.output


def test_raw_mode_training_with_online_augmentation(tmp_path, make_wav):
    train, noise = tmp_path / "train", tmp_path / "noise"
    train.mkdir()
    noise.mkdir()
    utt2spk = {f"s{s}-u{u}": f"s{s}" for s in range(2) for u in range(3)}
    with open(train / "wav.scp", "w") as scp:
        for index, utt in enumerate(sorted(utt2spk)):
            scp.write(f"{utt} {make_wav(f'train/{utt}.wav', seconds=0.4, freq=150.0 + 200 * (utt[1] == '1') + index)}\n")
    (train / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in sorted(utt2spk.items())))
    (noise / "wav.scp").write_text(f"n1 {make_wav('noise/n1.wav', seconds=0.2, freq=900.0)}\n")
    augment = {"noise_sets": {"noise": str(noise)}, "options": {"prob": 1.0}}
    config = tiny_config(data={"type": "raw", "batch_size": 3, "augment": augment}, trainer={"epochs": 1})
    summaries = Trainer(config, str(train), tmp_path / "exp", show_progress=False).run()
    assert summaries[0]["samples"] == 6 and summaries[0]["aam"] > 0


def test_raw_mode_training_with_online_speed_perturbation(tmp_path, make_wav):
    from bccmt_tools.train.init_from import load_initial_weights

    train = tmp_path / "train"
    train.mkdir()
    utt2spk = {f"s{s}-u{u}": f"s{s}" for s in range(2) for u in range(3)}
    with open(train / "wav.scp", "w") as scp:
        for index, utt in enumerate(sorted(utt2spk)):
            wav = make_wav(f"train/{utt}.wav", seconds=0.4, freq=150.0 + 200 * (utt[1] == "1") + index)
            scp.write(f"{utt} {wav}\n")
    (train / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in sorted(utt2spk.items())))
    speeds = {"type": "raw", "batch_size": 3, "speed_perturb": [0.9, 1.0, 1.1]}
    config = tiny_config(data=speeds, trainer={"epochs": 1})
    exp = tmp_path / "exp"
    trainer = Trainer(config, str(train), exp, show_progress=False)
    assert trainer.dataset.num_speakers == 6 and trainer.steps_per_epoch == 2
    trainer.sampler.set_epoch(1)
    assert len({trainer.dataset.speed_choice(seed) for _, seed in trainer.sampler}) > 1  # the epoch mixes speeds
    summaries = trainer.run()
    assert summaries[0]["samples"] == 6 and summaries[0]["aam"] > 0
    state = torch.load(exp / "checkpoints" / "epoch_0001.pt", weights_only=False)
    assert state["classifier"]["weight"].shape[0] == 6 == 3 * 2  # three times the speakers
    assert state["spk2id"] == {"s0": 0, "s1": 1, "sp0.9-s0": 2, "sp0.9-s1": 3, "sp1.1-s0": 4, "sp1.1-s1": 5}
    assert yaml.safe_load((exp / "config.yaml").read_text())["data"]["speed_perturb"] == [0.9, 1.0, 1.1]
    assert "6 speakers, 6 utterances" in (exp / "log" / "train.log").read_text()

    # Resume restores the 6-speaker classifier; --init-from reuses it only for the same speaker map.
    resumed = Trainer(config, str(train), exp, resume=True, show_progress=False)
    assert resumed.start_epoch == 2 and resumed.dataset.spk2id == state["spk2id"]
    assert torch.equal(resumed.objective.classifier.weight, state["classifier"]["weight"])
    again = Trainer(config, str(train), tmp_path / "fine_tune", show_progress=False)
    assert load_initial_weights(again.objective, exp, again.dataset.spk2id).startswith(
        "initialised the model and the classifier")
    assert torch.equal(again.objective.classifier.weight, state["classifier"]["weight"])
    plain = Trainer(tiny_config(data=dict(speeds, speed_perturb=[]), trainer={"epochs": 1}), str(train),
                    tmp_path / "plain", show_progress=False)
    assert plain.dataset.num_speakers == 2
    assert "classifier is for other training speakers (6 vs 2)" in load_initial_weights(plain.objective, exp,
                                                                                         plain.dataset.spk2id)
    with pytest.raises(BccmtError, match=r"cannot resume: the config differs .* data.speed_perturb"):
        Trainer(tiny_config(data=dict(speeds, speed_perturb=[]), trainer={"epochs": 1}), str(train), exp,
                resume=True, show_progress=False)


def test_checkpoint_from_before_data_speed_perturb_still_resumes(tmp_path):
    data = make_feats_dir(tmp_path / "train", num_speakers=2, utts_per_speaker=4)
    config = tiny_config(trainer={"epochs": 2})
    Trainer(config, data, tmp_path / "exp", stop_after=1, show_progress=False).run()
    path = tmp_path / "exp" / "checkpoints" / "epoch_0001.pt"
    state = torch.load(path, weights_only=False)
    del state["config"]["data"]["speed_perturb"]  # as written before the key existed
    save_checkpoint(state, path)
    # absent means the default ([]): another value is a change
    speeds = dict(config, data=dict(config["data"], speed_perturb=[0.9, 1.0, 1.1]))
    with pytest.raises(BccmtError, match=r"cannot resume: the config differs from the checkpoint's in "
                                         r"data.speed_perturb \("):
        Trainer(speeds, data, tmp_path / "exp", resume=True, show_progress=False)
    summaries = Trainer(config, data, tmp_path / "exp", resume=True, show_progress=False).run()
    assert len(summaries) == 1 and (tmp_path / "exp" / "checkpoints" / "epoch_0002.pt").is_file()


def test_the_process_group_is_torn_down_after_training_and_on_error(tmp_path):
    """bccmt train destroys the DDP process group when it ends, and when it fails; a group of one
    gloo process stands in for torchrun's."""
    import torch.distributed as dist

    from bccmt_tools.bin.train import cli

    data = make_feats_dir(tmp_path / "train", num_speakers=2, utts_per_speaker=4)
    config = tmp_path / "train.yaml"
    config.write_text("model: bccmt\nmodel_conf: {size: tiny}\ndata: {crop_frames: 24, batch_size: 4}\n"
                      "trainer: {epochs: 1}\n")
    base = ["--config", str(config), "--data", data, "--device", "cpu", "--no-progress", "--num-workers", "0"]
    for name, extra, exit_code in (("ok", [], 0), ("bad", ["--set", "data.batch_size=1000"], 1)):
        dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store_{name}", rank=0, world_size=1)
        try:
            result = CliRunner().invoke(cli, base + ["--exp", str(tmp_path / name)] + extra)
            assert result.exit_code == exit_code, result.output
            assert not dist.is_initialized()
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
