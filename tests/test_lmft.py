"""Large-margin fine-tuning: `bccmt train --init-from EXP` starts from EXP's weights with EXP's config
under the fine-tuning changes (egs/voxceleb/conf/train/lmft_*.yaml)."""

from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.train.checkpoint import load_checkpoint
from test_dataset import make_feats_dir

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained 2 epochs and averaged: the run to fine-tune."""
    root = tmp_path_factory.mktemp("lmft")
    data = make_feats_dir(root / "train")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "model": "bccmt", "model_conf": {"size": "tiny"},
        "data": {"crop_frames": 32, "batch_size": 8, "num_workers": 0},
        "optim": {"lr": 5e-3}, "scheduler": {"warmup_epochs": 0.0},
        "loss": {"margin": 0.2, "margin_warmup": {"start_epoch": 0, "end_epoch": 1}},
        "trainer": {"epochs": 2, "log_interval": 1, "keep_checkpoints": 0}}))
    runner = CliRunner()
    exp = root / "exp"
    result = runner.invoke(main, ["train", "--config", str(config), "--data", data, "--exp", str(exp),
                                  "--device", "cpu", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["average-model", "--exp", str(exp), "--num", "1"]).exit_code == 0
    return root, data, exp


def _parameters(path):
    return {k: v for k, v in load_checkpoint(path)["model"].items() if "running" not in k and "num_batches" not in k}


def _lmft(trained, name, *extra):
    root, data, exp = trained
    out = root / name
    config = REPO / "egs/voxceleb/conf/train/lmft_mini.yaml"
    result = CliRunner().invoke(main, ["train", "--init-from", str(exp), "--config",
                                       str(config), "--data", data, "--exp", str(out),
                                       "--device", "cpu", "--no-progress", "--set", "data.crop_frames=48",
                                       "--set", "trainer.epochs=1", *extra])
    assert result.exit_code == 0, result.output
    return out


def test_init_from_inherits_the_config_and_starts_from_the_weights(trained):
    _root, _data, exp = trained
    # a learning rate of ~0: the fine-tuned parameters stay those of the averaged model
    out = _lmft(trained, "lmft", "--set", "optim.lr=1.0e-12", "--set", "scheduler.min_lr=1.0e-12")
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["trainer"]["init_from"] == str(exp)
    assert config["loss"]["margin"] == 0.5 and config["loss"]["margin_warmup"] == {"start_epoch": 0, "end_epoch": 0}
    assert config["data"]["crop_frames"] == 48 and config["data"]["batch_size"] == 8  # inherited from EXP
    assert config["model_conf"] == yaml.safe_load((exp / "config.yaml").read_text())["model_conf"]
    assert "initialised the model and the classifier from" in (out / "log" / "train.log").read_text()
    start, after = _parameters(exp / "avg_model.pt"), _parameters(out / "checkpoints" / "epoch_0001.pt")
    assert max(float((start[k] - after[k]).abs().max()) for k in start) < 1e-6
    before = load_checkpoint(exp / "avg_model.pt")["classifier"]["weight"]
    assert torch.allclose(load_checkpoint(out / "checkpoints" / "epoch_0001.pt")["classifier"]["weight"], before,
                          atol=1e-6)
    # with the fine-tuning learning rate the weights move, from that starting point
    moved = _parameters(_lmft(trained, "lmft_lr") / "checkpoints" / "epoch_0001.pt")
    change = max(float((start[k] - moved[k]).abs().max()) for k in start)
    assert 1e-6 < change < 0.1


def test_init_from_refuses_another_model(trained, tmp_path):
    root, data, exp = trained
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"model_conf": {"size": "base"}, "trainer": {"epochs": 1}}))
    result = CliRunner().invoke(main, ["train", "--init-from", str(exp), "--config", str(other), "--data", data,
                                       "--exp", str(tmp_path / "x"), "--device", "cpu", "--no-progress"])
    assert result.exit_code == 1 and "key 'model_conf': differs from" in result.output
    result = CliRunner().invoke(main, ["train", "--init-from", str(tmp_path), "--config", str(other), "--data", data,
                                       "--exp", str(tmp_path / "y"), "--device", "cpu"])
    assert result.exit_code == 1 and "no config.yaml" in result.output
