"""int8 export: static QDQ quantisation with float exceptions, the accuracy check that replaces
parity (EER and minDCF before and after, in the metadata), the refusal beyond the allowed EER
rise, and the graph rewrites of every ONNX export."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import yaml
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.deploy.export import write_onnx
from bccmt_tools.deploy.quantize import QUANTIZATION_METADATA_KEY, float_nodes
from bccmt_tools.models import build_model
from bccmt_tools.models.fuse import fuse_for_inference
from tests.conftest import write_wav

REPO = Path(__file__).resolve().parent.parent


def _voice(rng, pitch, seconds=1.0):
    t = np.arange(int(seconds * 16000)) / 16000
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))) / 16000
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 8))
    return 0.1 * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) * harmonics + 0.01 * rng.standard_normal(t.size)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A fake experiment (tiny BC-CMT, random weights), a data dir of 4 'speakers' x 6 utterances
    and a labelled trial list over it."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("int8")
    config = yaml.safe_load((REPO / "bccmt_tools/conf/models/bccmt_tiny.yaml").read_text())
    config["features"] = {"num_mel_bins": 80, "cmn": True}
    model = build_model(config)
    exp = root / "exp"
    exp.mkdir()
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save({"model": model.state_dict()}, exp / "avg_model.pt")
    rng = np.random.default_rng(0)
    data = root / "data"
    lines, keys = [], []
    for speaker, pitch in enumerate((110, 160, 210, 260)):
        for index in range(6):
            key = f"s{speaker}-u{index}"
            path = write_wav(data / "wav" / f"{key}.wav", _voice(rng, pitch * (1 + 0.02 * index)))
            lines.append(f"{key} {path}\n")
            keys.append(key)
    (data / "wav.scp").write_text("".join(lines))
    trials = [f"{a} {b} {'target' if a[:2] == b[:2] else 'nontarget'}\n"
              for i, a in enumerate(keys) for b in keys[i + 1:]]
    (root / "trials").write_text("".join(trials))
    return exp, data, root / "trials", model


def _export(setup, out, *extra):
    exp, data, trials, _model = setup
    return CliRunner().invoke(main, ["export", "--exp", str(exp), "--quantize", "int8", "--calibration-data",
                                     str(data), "--calibration-utterances", "12", "--check-trials", str(trials),
                                     "--check-data", str(data), "--out", str(out), *extra])


def test_int8_export_writes_a_qdq_model_with_its_accuracy_check(setup, tmp_path):
    out = tmp_path / "model.int8.onnx"
    result = _export(setup, out, "--max-eer-increase", "100")
    assert result.exit_code == 0, result.output
    assert "accuracy float: EER" in result.output and "accuracy int8 : EER" in result.output
    assert "kept in float: " in result.output and "Softmax" in result.output
    model = onnx.load(str(out))
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    assert "bccmt.features" in metadata  # the deployment metadata survives quantisation
    record = json.loads(metadata[QUANTIZATION_METADATA_KEY])
    accuracy = record["accuracy"]
    assert accuracy["float"]["num_trials"] == 276 and 0 <= accuracy["int8"]["eer"] <= 1
    assert record["per_channel"] is True and record["calibration_utterances"] == 12
    assert record["float_ops"]["Softmax"] >= 10
    # the file works where float ONNX models work: verify --onnx with its stored features config
    exp, data, trials, _ = setup
    verified = CliRunner().invoke(main, ["verify", "--onnx", str(out), "--wav-scp", str(data / "wav.scp"),
                                         "--trials", str(trials)])
    assert verified.exit_code == 0, verified.output
    assert len(verified.stdout.splitlines()) == 276


def test_int8_export_refuses_an_eer_rise_beyond_the_limit_unless_forced(setup, tmp_path):
    out = tmp_path / "refused.onnx"
    result = _export(setup, out, "--max-eer-increase", "-1")  # even an unchanged EER is too much
    assert result.exit_code != 0
    assert "not written: int8 EER" in result.output and "--force" in result.output
    assert not out.exists() and not list(tmp_path.iterdir())  # no temporary left either
    forced = _export(setup, out, "--max-eer-increase", "-1", "--force")
    assert forced.exit_code == 0, forced.output
    record = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}[QUANTIZATION_METADATA_KEY])
    assert record["accuracy"]["passed"] is False and record["accuracy"]["forced"] is True


def test_int8_options_need_their_partners(setup, tmp_path):
    exp, data, trials, _ = setup
    runner = CliRunner()
    missing = runner.invoke(main, ["export", "--exp", str(exp), "--quantize", "int8", "--calibration-data", str(data)])
    assert missing.exit_code != 0 and "--check-trials" in missing.output
    stray = runner.invoke(main, ["export", "--exp", str(exp), "--calibration-data", str(data)])
    assert stray.exit_code != 0 and "go with --quantize int8" in stray.output


def test_float_nodes_keep_softmax_logits_and_depthwise_convolutions(setup, tmp_path):
    _exp, _data, _trials, model = setup
    path = tmp_path / "float.onnx"
    write_onnx(fuse_for_inference(model.eval()), path)
    graph = onnx.load(str(path))
    kept = float_nodes(graph, keep_float=["/stem/"])
    reasons = set(kept.values())
    assert {"attention logits (feeds a softmax)", "depthwise/grouped", "asked (--keep-float)"} <= reasons
    assert all(name.startswith("/stem/") for name, why in kept.items() if why == "asked (--keep-float)")
    pointwise = [n.name for n in graph.graph.node if n.op_type == "Conv" and n.name not in kept]
    assert len(pointwise) > 20  # the 1x1 convolutions are quantised


def test_graph_rewrites_keep_the_function_and_shrink_the_graph(setup, tmp_path):
    import onnxruntime

    _exp, _data, _trials, model = setup
    fused = fuse_for_inference(model.eval())
    plain, rewritten = tmp_path / "plain.onnx", tmp_path / "rewritten.onnx"
    write_onnx(fused, plain, rewrite=False)
    write_onnx(fused, rewritten)
    assert len(onnx.load(str(rewritten)).graph.node) < 0.7 * len(onnx.load(str(plain)).graph.node)
    ops = {node.op_type for node in onnx.load(str(rewritten)).graph.node}
    assert "Tile" in ops  # the Toeplitz relative bias
    sessions = [onnxruntime.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (plain, rewritten)]
    rng = np.random.default_rng(1)
    for batch, frames in ((1, 1), (1, 13), (2, 64), (3, 333), (1, 1201)):
        inputs = {"feats": rng.standard_normal((batch, frames, 80)).astype(np.float32),
                  "lengths": np.array([frames] + [max(1, frames - 7 * i) for i in range(1, batch)], dtype=np.int64)}
        expected, got = (session.run(None, inputs)[0] for session in sessions)
        np.testing.assert_allclose(got, expected, atol=2e-5)


def test_extract_embeddings_sh_runs_an_onnx_model_in_parallel_jobs(setup, tmp_path):
    """utils/extract_embeddings.sh --onnx: two jobs give what one extract-embeddings --onnx gives."""
    import os
    import subprocess
    import sys

    from bccmt_tools.io.kaldi_table import read_table_dict

    exp, data, _trials, model = setup
    onnx_path = tmp_path / "model.onnx"
    exported = CliRunner().invoke(main, ["export", "--exp", str(exp), "--out", str(onnx_path)])
    assert exported.exit_code == 0, exported.output
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    out = tmp_path / "emb"
    result = subprocess.run([str(REPO / "utils" / "extract_embeddings.sh"), "--nj", "2", "--onnx", str(onnx_path),
                             str(tmp_path), str(data), str(out)], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    direct = CliRunner().invoke(main, ["extract-embeddings", "--onnx", str(onnx_path), "--input-type", "wav",
                                       f"scp:{data / 'wav.scp'}", f"ark:{tmp_path / 'direct.ark'}"])
    assert direct.exit_code == 0, direct.output
    jobs, single = read_table_dict(f"scp:{out / 'xvector.scp'}"), read_table_dict(f"ark:{tmp_path / 'direct.ark'}")
    assert sorted(jobs) == sorted(single) and len(jobs) == 24
    for key in single:
        np.testing.assert_allclose(jobs[key], single[key], atol=1e-6)
    missing = subprocess.run([str(REPO / "utils" / "extract_embeddings.sh"), "--onnx", str(tmp_path / "none.onnx"),
                              str(tmp_path), str(data), str(tmp_path / "x")], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "no such file" in missing.stderr
