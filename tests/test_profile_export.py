"""load_model_from_exp, BN folding, `bccmt export` (TorchScript, ONNX) and `bccmt profile`."""

import json

import pytest
import torch
import yaml
from click.testing import CliRunner

from bccmt_tools.errors import BccmtError
from bccmt_tools.models import build_model
from bccmt_tools.models.experiment import load_model_from_exp
from bccmt_tools.models.fuse import fuse_for_inference

torch.set_num_threads(1)
TINY = {"model": "bccmt", "model_conf": {"size": "tiny"}}


def randomised(model):
    generator = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            n = module.running_mean.numel()
            module.running_mean.copy_(0.3 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            module.bias.data.copy_(0.2 * torch.randn(n, generator=generator))
    return model.eval()


def make_exp(root, config=TINY, layout="avg"):
    exp = root / "exp"
    (exp / "checkpoints").mkdir(parents=True)
    full = dict(config, features={"num_mel_bins": 80, "cmn": True})
    (exp / "config.yaml").write_text(yaml.safe_dump(full))
    model = randomised(build_model(config))
    if layout == "avg":
        torch.save({"model": model.state_dict(), "config": full}, exp / "avg_model.pt")
    else:
        for epoch in (2, 10):
            torch.save({"model": model.state_dict(), "epoch": epoch}, exp / "checkpoints" / f"epoch_{epoch:04d}.pt")
    return exp, model


@pytest.mark.parametrize("layout", ["avg", "epochs"])
def test_load_model_from_exp(tmp_path, layout):
    exp, model = make_exp(tmp_path, layout=layout)
    loaded, config = load_model_from_exp(exp)
    assert not loaded.training and config["model"] == "bccmt"
    feats, lengths = torch.randn(1, 30, 80), torch.tensor([30])
    with torch.no_grad():
        assert torch.equal(loaded(feats, lengths), model(feats, lengths))


def test_load_mismatching_checkpoint_names_it(tmp_path):
    exp, _ = make_exp(tmp_path)
    (exp / "config.yaml").write_text(yaml.safe_dump(
        {"model": "bccmt", "model_conf": {"size": "base"}, "features": {}}))
    with pytest.raises(BccmtError, match=r"avg_model.pt: key 'model': does not match.*shape mismatch"):
        load_model_from_exp(exp)


def test_load_without_checkpoint(tmp_path):
    exp, _ = make_exp(tmp_path)
    (exp / "avg_model.pt").unlink()
    with pytest.raises(BccmtError, match="no avg_model.pt"):
        load_model_from_exp(exp)


@pytest.mark.parametrize("config", [TINY, {"model": "resnet", "model_conf": {"base_channels": 8}}])
def test_fused_model_matches(config):
    model = randomised(build_model(config))
    fused = fuse_for_inference(model)
    batchnorms = [m for m in fused.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(batchnorms) < len([m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)])
    feats, lengths = torch.randn(2, 45, 80), torch.tensor([45, 20])
    with torch.no_grad():
        assert torch.allclose(fused(feats, lengths), model(feats, lengths), atol=1e-4)


@pytest.mark.parametrize("fmt, name", [("torchscript", "model.torchscript.pt"), ("onnx", "model.onnx")])
def test_export_cli_with_parity(tmp_path, fmt, name):
    exp, _ = make_exp(tmp_path)
    result = CliRunner().invoke(_cli("export"), ["--exp", str(exp), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert (exp / name).is_file()
    assert "max abs diff" in result.output and "3x64" in result.output


def test_export_failing_parity_leaves_no_file(tmp_path):
    exp, _ = make_exp(tmp_path)
    out = tmp_path / "out.pt"
    result = CliRunner().invoke(_cli("export"), ["--exp", str(exp), "--format", "torchscript", "--out", str(out),
                                                 "--tolerance", "-1"])
    assert result.exit_code == 1 and "parity check failed" in result.output
    assert list(tmp_path.glob("*out.pt*")) == []


@pytest.mark.parametrize("target", ["avg_model.pt", "config.yaml", "model.torchscript.pt"])
def test_export_out_may_not_replace_the_experiments_files(tmp_path, target):
    """Issue 23, case 2: --out EXP/avg_model.pt replaced the trained weights with the ONNX file."""
    exp, _ = make_exp(tmp_path)
    (exp / "model.torchscript.pt").write_bytes(b"an earlier export")
    before = (exp / target).read_bytes()
    result = CliRunner().invoke(_cli("export"), ["--exp", str(exp), "--format", "onnx", "--out", str(exp / target)])
    assert result.exit_code == 1 and "would replace it" in result.output, result.output
    assert (exp / target).read_bytes() == before


def test_profile_json_and_onnx_timing(tmp_path):
    exp, _ = make_exp(tmp_path)
    assert CliRunner().invoke(_cli("export"), ["--exp", str(exp), "--format", "onnx"]).exit_code == 0
    result = CliRunner().invoke(_cli("profile"), ["--exp", str(exp), "--seconds", "1,2", "--runs", "2", "--warmup", "1",
                                                  "--onnx", str(exp / "model.onnx"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["parameters"] == 271_982
    first, second = report["lengths"]
    assert first["frames"] == 98 and second["macs"] > first["macs"] > 20e6
    assert first["latency"]["median_ms"] > 0 and first["onnx_latency"]["median_ms"] > 0


def test_profile_table_from_config():
    result = CliRunner().invoke(_cli("profile"), ["--config", "bccmt_tools/conf/models/bccmt_tiny_conventional.yaml",
                                                  "--seconds", "1", "--no-latency"])
    assert result.exit_code == 0, result.output
    assert "271,348 parameters" in result.output and "MMACs" in result.output


def test_profile_needs_one_source():
    result = CliRunner().invoke(_cli("profile"), ["--seconds", "1"])
    assert result.exit_code == 1 and "exactly one of --config and --exp" in result.output


def _cli(tool):
    import importlib
    return importlib.import_module(f"bccmt_tools.bin.{tool}").cli
