"""AAM-softmax and its margin schedule, logit/embedding KD, optimiser groups, LR schedules, config."""

import math

import pytest
import torch
import torch.nn.functional as F

from bccmt_tools.errors import BccmtError
from bccmt_tools.losses.aam import AAMSoftmax, MarginSchedule
from bccmt_tools.losses.kd import EmbeddingKD, LambdaWarmup, logit_kd_loss
from bccmt_tools.train.config import load_config, resolve_config
from bccmt_tools.train.optim import build_optimizer, split_decay_parameters
from bccmt_tools.train.schedulers import WarmupScheduler


def test_aam_margin_applies_to_the_target_only():
    torch.manual_seed(0)
    head = AAMSoftmax(8, 5, margin=0.3, scale=10.0)
    emb, labels = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 0])
    loss, logits = head(emb, labels)
    cosine = F.linear(F.normalize(emb), F.normalize(head.weight))
    assert torch.allclose(logits, 10.0 * cosine, atol=1e-5)
    theta = torch.acos(cosine[torch.arange(6), labels].clamp(-1, 1))
    expected_target = 10.0 * torch.cos(theta + 0.3)
    manual = 10.0 * cosine.clone()
    manual[torch.arange(6), labels] = expected_target
    assert torch.allclose(loss, F.cross_entropy(manual, labels), atol=1e-4)
    head.set_margin(0.0)
    no_margin, _ = head(emb, labels)
    assert torch.allclose(no_margin, F.cross_entropy(10.0 * cosine, labels), atol=1e-5)
    assert loss > no_margin


def test_margin_schedule_warms_up_linearly():
    schedule = MarginSchedule(0.2, start_epoch=2, end_epoch=4)
    assert [schedule(e) for e in (0, 2, 3, 4, 10)] == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.2])
    assert MarginSchedule(0.2)(0.0) == 0.2


def test_logit_kd_is_zero_for_equal_logits_and_positive_otherwise():
    logits = torch.randn(4, 7)
    assert float(logit_kd_loss(logits, logits, 4.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(logit_kd_loss(torch.randn(4, 7), logits, 4.0)) > 0


def test_embedding_kd_projects_when_sizes_differ():
    same = EmbeddingKD(6, 6)
    emb = torch.randn(3, 6)
    assert float(same(emb, 2 * emb)) == pytest.approx(0.0, abs=1e-6)
    projected = EmbeddingKD(4, 6)
    assert isinstance(projected.projection, torch.nn.Linear)
    student = torch.randn(3, 4, requires_grad=True)
    loss = projected(student, torch.randn(3, 6))
    loss.backward()
    assert 0 < float(loss.detach()) < 2 and student.grad is not None and projected.projection.weight.grad is not None


def test_lambda_warmup():
    assert [LambdaWarmup(2.0, 4)(e) for e in (0, 1, 4, 8)] == [0.0, 0.5, 2.0, 2.0]
    assert LambdaWarmup(2.0)(0.0) == 2.0


class _WithPosition(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 3, 3)
        self.norm = torch.nn.BatchNorm1d(3)
        self.bias_table = torch.nn.Parameter(torch.zeros(2, 9))
        self.layer_norm = torch.nn.LayerNorm(3)


def test_no_weight_decay_on_norms_biases_and_position_tables():
    decay, no_decay = split_decay_parameters(_WithPosition())
    assert [n for n, _ in decay] == ["conv.weight"]
    assert {n for n, _ in no_decay} == {"conv.bias", "norm.weight", "norm.bias", "bias_table",
                                        "layer_norm.weight", "layer_norm.bias"}
    optimizer = build_optimizer({"name": "adamw", "lr": 0.1, "weight_decay": 0.01, "betas": [0.9, 0.99],
                                 "momentum": 0.9, "nesterov": False}, _WithPosition())
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]


def test_real_model_position_tables_get_no_decay():
    from bccmt_tools.models import build_model

    model = build_model({"model": "bccmt", "model_conf": {"size": "tiny"}})
    decay, no_decay = split_decay_parameters(model)
    assert any(name.endswith("bias.table") for name, _ in no_decay)
    assert not any("table" in name or "norm" in name for name, _ in decay)
    assert all(p.ndim > 1 for _, p in decay)


def _lrs(scheduler, optimizer, steps):
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    return values


def test_warmup_cosine_and_exponential_schedules_and_their_state():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    cosine = WarmupScheduler(optimizer, "cosine", total_steps=20, warmup_steps=4, min_lr=0.01)
    lrs = _lrs(cosine, optimizer, 20)
    assert lrs[:5] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:])) and lrs[-1] > 0.01
    assert cosine.factor_lr(1.0, 20) == pytest.approx(0.01)
    optimizer = torch.optim.SGD([param], lr=1.0)
    expo = WarmupScheduler(optimizer, "exponential", total_steps=10, warmup_steps=0, min_lr=0.001)
    lrs = _lrs(expo, optimizer, 10)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert ratios == pytest.approx([ratios[0]] * 9) and expo.factor_lr(1.0, 10) == pytest.approx(0.001)
    resumed = WarmupScheduler(torch.optim.SGD([param], lr=1.0), "exponential", total_steps=10, min_lr=0.001)
    resumed.load_state_dict(expo.state_dict())
    assert resumed.get_last_lr() == pytest.approx(expo.get_last_lr())


def test_config_defaults_unknown_keys_and_choices(tmp_path):
    config = resolve_config({"model": "bccmt", "data": {"batch_size": 4}})
    assert config["data"]["batch_size"] == 4 and config["data"]["crop_frames"] == 200
    assert config["features"]["num_mel_bins"] == 80 and config["features"]["cmn"] is True
    with pytest.raises(BccmtError, match=r"unknown key 'optim.learning_rate' \(valid keys here: .*lr"):
        resolve_config({"model": "bccmt", "optim": {"learning_rate": 1}})
    with pytest.raises(BccmtError, match="'optim.name': 'rmsprop' is not one of"):
        resolve_config({"model": "bccmt", "optim": {"name": "rmsprop"}})
    with pytest.raises(BccmtError, match="'model' is required"):
        resolve_config({})
    path = tmp_path / "train.yaml"
    path.write_text("model: bccmt\noptim: {lr: 0.5}\n")
    config = load_config(path, ["optim.lr=0.002", "trainer.epochs=3"])
    assert config["optim"]["lr"] == 0.002 and config["trainer"]["epochs"] == 3
    with pytest.raises(BccmtError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_shipped_train_configs_resolve():
    import glob
    import os

    root = os.path.join(os.path.dirname(__file__), "..", "egs", "voxceleb", "conf", "train")
    paths = sorted(glob.glob(os.path.join(root, "*.yaml")))
    assert len(paths) >= 4
    from bccmt_tools.train.init_from import merge_configs
    from bccmt_tools.train.config import resolve_config
    from bccmt_tools.io.yaml_io import read_yaml_mapping

    base = load_config(os.path.join(root, "compare_tiny.yaml"))
    for path in paths:
        given = read_yaml_mapping(path, what="training config")
        if "model" in given or "model_file" in given:
            config = load_config(path)
        else:  # an --init-from overlay (large-margin fine-tuning): resolves over a trained run's config
            assert os.path.basename(path).startswith("lmft_"), f"{path} names no model"
            config = resolve_config(merge_configs(base, given), path)
        assert math.isfinite(config["optim"]["lr"])
