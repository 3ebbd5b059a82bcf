"""Pictures: plot-training (learning curves from train.log) and plot-attention (teacher vs student
self-attention maps paired as in KD)."""

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.errors import BccmtError
from bccmt_tools.models import build_model
from bccmt_tools.train.curves import loss_terms, parse_epoch_lines, read_training_log
from tests.conftest import write_wav

LOG = """\
2026-12-01 15:30:00 model bccmt: 271,982 parameters; 367 speakers
2026-12-01 15:33:00 epoch 1 step 67/67 loss 9.1 aam 8.9 kd_attention 0.2 acc 0.05
2026-12-01 15:33:09 epoch 1/3 loss 9.1000 aam 8.9000 kd_attention 0.2000 val_eer 0.3000 val_min_dcf 0.99 acc 0.0500 \
lr 2.000e-03 margin 0.100 samples/s 25.0 time 170.0s checkpoint exp/x/checkpoints/epoch_0001.pt
2026-12-01 15:36:09 epoch 2/3 loss 8.0000 aam 7.8000 kd_attention 0.2000 acc 0.2000 lr 1.500e-03 margin 0.200 \
samples/s 25.0 time 170.0s checkpoint exp/x/checkpoints/epoch_0002.pt
2026-12-01 15:40:00 resumed from exp/x/checkpoints/epoch_0001.pt (epoch 1, step 67)
2026-12-01 15:43:09 epoch 2/3 loss 7.5000 aam 7.3000 kd_attention 0.2000 val_eer 0.2500 val_min_dcf 0.95 acc 0.2500 \
lr 1.500e-03 margin 0.200 samples/s 24.0 time 171.0s checkpoint exp/x/checkpoints/epoch_0002.pt
"""


def test_epoch_lines_last_wins_and_validation_is_optional():
    epochs = parse_epoch_lines(LOG.splitlines())
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1]["loss"] == 7.5 and epochs[1]["val_eer"] == 0.25  # the resumed run's line
    assert epochs[0]["time"] == 170.0 and epochs[0]["checkpoint"].endswith("epoch_0001.pt")
    assert loss_terms(epochs) == ["loss", "aam", "kd_attention"]
    with pytest.raises(BccmtError, match=r"train.log:1: field 'loss': 'x' is not a number"):
        parse_epoch_lines(["2026-12-01 15:33:09 epoch 1/3 loss x acc 0.1"])


def test_plot_training_tool(tmp_path):
    exp = tmp_path / "exp"
    (exp / "log").mkdir(parents=True)
    (exp / "log" / "train.log").write_text(LOG)
    result = CliRunner().invoke(main, ["plot-training", str(exp)])
    assert result.exit_code == 0, result.output
    assert "2 epoch(s)" in result.stderr
    pytest.importorskip("matplotlib")
    assert (exp / "training.png").stat().st_size > 10000
    empty = tmp_path / "empty"
    (empty / "log").mkdir(parents=True)
    (empty / "log" / "train.log").write_text("2026-12-01 15:30:00 model bccmt\n")
    result = CliRunner().invoke(main, ["plot-training", "--out", str(tmp_path / "x.png"), str(exp), str(empty)])
    assert result.exit_code == 1 and "no finished epoch yet" in result.output
    with pytest.raises(BccmtError, match="not found"):
        read_training_log(str(tmp_path))


def _exp(root, size, seed):
    torch.manual_seed(seed)
    config = {"model": "bccmt", "model_conf": {"size": size}, "features": {"num_mel_bins": 80, "cmn": True}}
    path = root / f"{size}_{seed}"
    path.mkdir()
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save({"model": build_model(config).state_dict()}, path / "avg_model.pt")
    return path


def test_plot_attention_pairs_as_kd_and_reports_kl(tmp_path):
    torch.set_num_threads(1)
    tiny, other_tiny, base = _exp(tmp_path, "tiny", 0), _exp(tmp_path, "tiny", 1), _exp(tmp_path, "base", 2)
    rng = np.random.default_rng(0)
    t = np.arange(24000) / 16000
    wav = write_wav(tmp_path / "a.wav", 0.2 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 3 * t))
                    + 0.02 * rng.standard_normal(t.size))
    runner = CliRunner()
    result = runner.invoke(main, ["plot-attention", "--teacher", str(base), "--student", str(tiny), "--wav", str(wav),
                                  "--out", str(tmp_path / "att.png")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # Tiny depths 2/2/4/2 against Base 3/3/8/3: 10 pairs, mapped as in the KD loss
    assert len(lines) == 10
    assert lines[4].startswith("stage 3 student block 1 <- teacher block 2: kl")
    assert all(float(line.split()[-1]) >= 0 for line in lines)
    same = runner.invoke(main, ["plot-attention", "--teacher", str(tiny), "--student", str(tiny), "--wav", str(wav),
                                "--out", str(tmp_path / "same.png")])
    assert same.exit_code == 0, same.output
    assert all(abs(float(line.split()[-1])) < 1e-6 for line in same.stdout.splitlines())  # a model against itself
    differ = runner.invoke(main, ["plot-attention", "--teacher", str(other_tiny), "--student", str(tiny), "--wav",
                                  str(wav), "--out", str(tmp_path / "differ.png")])
    assert max(float(line.split()[-1]) for line in differ.stdout.splitlines()) > 0  # printed with 4 decimals
    bad_head = runner.invoke(main, ["plot-attention", "--teacher", str(base), "--student", str(tiny), "--wav", str(wav),
                                    "--head", "5", "--out", str(tmp_path / "h.png")])
    assert bad_head.exit_code == 1 and "--head 5: stage 1 has 1 head(s)" in bad_head.output
    pytest.importorskip("matplotlib")
    assert (tmp_path / "att.png").stat().st_size > 20000
