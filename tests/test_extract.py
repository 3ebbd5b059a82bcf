"""Embedding extraction: batched equals one-by-one, chunking of long utterances, CMN, feats vs wav
input through the tool, ONNX runtime back-end."""

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.embed.extract import ExtractionOptions, OnnxEmbedder, TorchEmbedder, chunk_bounds, extract_embeddings
from bccmt_tools.errors import BccmtError
from bccmt_tools.features.fbank import compute_fbank, load_fbank_config
from bccmt_tools.io.kaldi_table import TableWriter, read_table_dict
from bccmt_tools.models import build_model
from bccmt_tools.models.experiment import load_model_from_exp

CONFIG = "bccmt_tools/conf/models/bccmt_tiny.yaml"


def make_exp(exp_dir):
    """A fake experiment dir: tiny BC-CMT with random weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    with open(CONFIG, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["features"] = {"num_mel_bins": 80, "cmn": True}
    model = build_model(config)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0.0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    exp_dir.mkdir(parents=True, exist_ok=True)
    (exp_dir / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save({"model": model.state_dict()}, exp_dir / "avg_model.pt")
    return exp_dir


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    torch.set_num_threads(1)
    return make_exp(tmp_path_factory.mktemp("exp") / "tiny")


@pytest.fixture(scope="module")
def embedder(exp_dir):
    model, _ = load_model_from_exp(exp_dir)
    return TorchEmbedder(model)


def _items(rng, lengths):
    return [(f"utt{i}", rng.standard_normal((n, 80)).astype(np.float32)) for i, n in enumerate(lengths)]


def test_chunk_bounds_near_equal():
    assert chunk_bounds(250, 100) == [(0, 83), (83, 167), (167, 250)]
    assert chunk_bounds(100, 100) == [(0, 100)]
    assert chunk_bounds(7, 0) == [(0, 7)]


def test_batched_equals_one_by_one(embedder, rng):
    items = _items(rng, [37, 250, 5, 120, 121, 64, 200, 9, 180])
    batched = dict(extract_embeddings(items, embedder, ExtractionOptions(batch_size=4, sort_window=6), 80))
    single = dict(extract_embeddings(items, embedder, ExtractionOptions(batch_size=1), 80))
    assert list(batched) == [key for key, _ in items]  # input order kept
    for key in single:
        assert batched[key].dtype == np.float32 and batched[key].shape == (embedder.embedding_dim,)
        np.testing.assert_allclose(batched[key], single[key], atol=1e-5, rtol=0)


def test_long_utterance_is_length_weighted_mean_of_chunks(embedder, rng):
    feats = rng.standard_normal((250, 80)).astype(np.float32)
    options = ExtractionOptions(batch_size=8, max_chunk_frames=100)
    (key, embedding), = extract_embeddings([("long", feats)], embedder, options, 80)
    normalised = feats - feats.mean(axis=0)  # CMN over the whole utterance, before chunking
    chunks = [(stop - start, embedder(normalised[None, start:stop], np.array([stop - start]))[0])
              for start, stop in chunk_bounds(250, 100)]
    expected = sum(n * e for n, e in chunks) / 250
    np.testing.assert_allclose(embedding, expected, atol=1e-5)


def test_cmn_removes_a_constant_offset(embedder, rng):
    feats = rng.standard_normal((60, 80)).astype(np.float32)
    (_, plain), (_, shifted) = extract_embeddings([("a", feats), ("b", feats + 3.0)], embedder, None, 80)
    np.testing.assert_allclose(plain, shifted, atol=1e-5)


def test_tool_feats_and_wav_inputs_agree(tmp_path, exp_dir, make_wav):
    wav_scp = tmp_path / "wav.scp"
    paths = {f"spk{i}-utt": make_wav(f"w{i}.wav", seconds=0.5 + 0.3 * i, freq=200 + 50 * i) for i in range(3)}
    wav_scp.write_text("".join(f"{key} {path}\n" for key, path in paths.items()))
    import soundfile

    with TableWriter(f"ark,scp:{tmp_path}/feats.ark,{tmp_path}/feats.scp") as writer:
        for key, path in paths.items():
            samples, _ = soundfile.read(str(path), dtype="float32")
            writer[key] = compute_fbank(samples, load_fbank_config({"num_mel_bins": 80}))
    runner = CliRunner()
    common = ["extract-embeddings", "--exp", str(exp_dir), "--device", "cpu", "--batch-size", "2"]
    result = runner.invoke(main, common + [f"scp:{tmp_path}/feats.scp", f"ark,scp:{tmp_path}/a.ark,{tmp_path}/a.scp"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, common + ["--input-type", "wav", str(wav_scp), f"ark,t:{tmp_path}/b.txt"])
    assert result.exit_code == 0, result.output
    from_feats = read_table_dict(f"scp:{tmp_path}/a.scp")
    from_wav = read_table_dict(f"ark:{tmp_path}/b.txt")
    assert sorted(from_feats) == sorted(paths)
    for key in paths:
        assert from_feats[key].dtype == np.float32 and from_feats[key].shape == (192,)
        np.testing.assert_allclose(from_feats[key], from_wav[key], atol=1e-5)


def _onnx_model(path, input_names=("feats", "lengths")):
    """A toy ONNX 'embedding model': max over time of the features ([B, T, 80] -> [B, 80])."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    feats = helper.make_tensor_value_info(input_names[0], TensorProto.FLOAT, ["B", "T", 80])
    lengths = helper.make_tensor_value_info(input_names[1], TensorProto.INT64, ["B"])
    out = helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["B", 80])
    node = helper.make_node("ReduceMax", [input_names[0]], ["embeddings"], axes=[1], keepdims=0)
    graph = helper.make_graph([node], "toy", [feats, lengths], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_embedder_runs_exported_graph(tmp_path, rng):
    pytest.importorskip("onnxruntime")
    embedder = OnnxEmbedder(_onnx_model(tmp_path / "toy.onnx"))
    feats = rng.standard_normal((40, 80)).astype(np.float32)
    (_, embedding), = extract_embeddings([("a", feats)], embedder, ExtractionOptions(batch_size=1), 80)
    np.testing.assert_allclose(embedding, (feats - feats.mean(axis=0)).max(axis=0), atol=1e-6)


def test_onnx_with_other_input_names_is_a_clear_error(tmp_path):
    pytest.importorskip("onnxruntime")
    path = _onnx_model(tmp_path / "bad.onnx", input_names=("x", "x_len"))
    with pytest.raises(BccmtError, match=r"ONNX inputs are \['x', 'x_len'\]; expected \['feats', 'lengths'\]"):
        OnnxEmbedder(path)
