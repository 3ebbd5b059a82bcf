"""Deployment: `bccmt export` stores the features config in the model file, and `bccmt verify --onnx`
runs without torch (onnxruntime + numpy fbank) with the scores of the torch path."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.embed.extract import METADATA_KEYS
from bccmt_tools.features.fbank import FbankConfig
from bccmt_tools.models import build_model
from tests.conftest import write_wav

REPO = Path(__file__).resolve().parent.parent
# Non-default features, so a verify that ignored the stored config would give other scores.
FEATURES = {"num_mel_bins": 80, "low_freq": 40.0, "window_type": "povey", "cmn": True}
BLOCK_TORCH = ("import sys\n"
               "sys.modules['torch'] = None\n"        # any `import torch` now raises ImportError
               "sys.modules['torchaudio'] = None\n"
               "from bccmt_tools.cli import main\n"
               "main(prog_name='bccmt')\n")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A fake experiment dir (tiny BC-CMT, random weights, non-trivial BatchNorm) and its ONNX export."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with open(REPO / "bccmt_tools/conf/models/bccmt_tiny.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["features"] = dict(FEATURES)
    model = build_model(config)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0.0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    exp = tmp_path_factory.mktemp("deploy") / "tiny"
    exp.mkdir()
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save({"model": model.state_dict()}, exp / "avg_model.pt")
    result = CliRunner().invoke(main, ["export", "--exp", str(exp), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    return exp, exp / "model.onnx", model.embedding_dim


@pytest.fixture(scope="module")
def user_data(tmp_path_factory):
    """wav.scp of five short utterances (real speech when BCCMT_DATA is set) and a trial list."""
    import os

    root = tmp_path_factory.mktemp("user")
    corpus = Path(os.environ.get("BCCMT_DATA", "")) / "voxceleb1" / "wav"
    if os.environ.get("BCCMT_DATA") and corpus.is_dir():
        wavs = sorted(corpus.glob("*/*/*.wav"))[::250][:5]
    else:
        rng = np.random.default_rng(1)
        t = np.arange(12000) / 16000
        wavs = [write_wav(root / f"u{i}.wav", 0.2 * np.sin(2 * np.pi * (150 + 90 * i) * t) *
                          (1 + np.sin(2 * np.pi * 3 * t)) + 0.03 * rng.standard_normal(t.size)) for i in range(5)]
    keys = [f"utt{i}" for i in range(len(wavs))]
    (root / "wav.scp").write_text("".join(f"{key} {wav}\n" for key, wav in zip(keys, wavs)))
    trials = [(keys[i], keys[j]) for i in range(len(keys)) for j in range(i + 1, len(keys))]
    (root / "trials").write_text("".join(f"{a} {b}\n" for a, b in trials))
    return root


def _scores(text):
    rows = [line.split() for line in text.splitlines() if line.strip()]
    return [(r[0], r[1]) for r in rows], np.array([float(r[2]) for r in rows])


def _verify_without_torch(args):
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH, "verify", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def _verify_with_torch(args):
    result = CliRunner().invoke(main, ["verify", "--device", "cpu", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_onnx_metadata_holds_the_deployment_settings(exported):
    import onnxruntime

    _exp, onnx_path, embedding_dim = exported
    metadata = onnxruntime.InferenceSession(str(onnx_path)).get_modelmeta().custom_metadata_map
    features = json.loads(metadata[METADATA_KEYS["features"]])
    assert features.pop("cmn") is True
    expected = FbankConfig(low_freq=40.0, window_type="povey").to_dict()
    assert features == expected  # every option written out, defaults included
    assert int(metadata[METADATA_KEYS["embedding_dim"]]) == embedding_dim
    assert metadata[METADATA_KEYS["model"]] == "bccmt"


def test_verify_onnx_imports_no_torch_and_scores_like_torch(exported, user_data):
    exp, onnx_path, _dim = exported
    data = ["--wav-scp", str(user_data / "wav.scp"), "--trials", str(user_data / "trials")]
    result = _verify_without_torch(["--onnx", str(onnx_path), *data])
    assert result.returncode == 0, result.stderr
    onnx_pairs, onnx_scores = _scores(result.stdout)
    torch_pairs, torch_scores = _scores(_verify_with_torch(["--exp", str(exp), *data]))
    assert onnx_pairs == torch_pairs and len(onnx_pairs) == 10
    np.testing.assert_allclose(onnx_scores, torch_scores, atol=1e-4)
    assert np.ptp(torch_scores) > 1e-3  # the scores really differ between trials

    # decisions also work torch-free
    threshold = float(np.median(torch_scores))
    decided = _verify_without_torch(["--onnx", str(onnx_path), *data, "--threshold", str(threshold)])
    assert decided.returncode == 0, decided.stderr
    assert [line.split()[3] for line in decided.stdout.splitlines()] == \
        ["accept" if s >= threshold else "reject" for s in onnx_scores]


def test_extract_embeddings_onnx_imports_no_torch_and_matches_torch(exported, user_data, tmp_path):
    exp, onnx_path, dim = exported
    wav_scp = f"scp:{user_data / 'wav.scp'}"
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "extract-embeddings", "--onnx", str(onnx_path),
                             "--input-type", "wav", wav_scp, f"ark:{tmp_path / 'onnx.ark'}"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    direct = CliRunner().invoke(main, ["extract-embeddings", "--exp", str(exp), "--input-type", "wav",
                                       wav_scp, f"ark:{tmp_path / 'torch.ark'}"])
    assert direct.exit_code == 0, direct.output
    from bccmt_tools.io.kaldi_table import read_table_dict

    onnx_table, torch_table = read_table_dict(f"ark:{tmp_path / 'onnx.ark'}"), read_table_dict(f"ark:{tmp_path / 'torch.ark'}")
    assert onnx_table.keys() == torch_table.keys() and len(onnx_table) == 5
    for key in torch_table:
        assert onnx_table[key].shape == (dim,)
        np.testing.assert_allclose(onnx_table[key], torch_table[key], atol=1e-3)


def test_onnx_without_metadata_needs_fbank_config(exported, user_data, tmp_path):
    import onnx

    exp, onnx_path, _dim = exported
    bare = onnx.load(str(onnx_path))
    del bare.metadata_props[:]
    bare_path = tmp_path / "bare.onnx"
    onnx.save(bare, str(bare_path))
    data = ["--wav-scp", str(user_data / "wav.scp"), "--trials", str(user_data / "trials")]

    refused = CliRunner().invoke(main, ["verify", "--onnx", str(bare_path), *data])
    assert refused.exit_code == 1
    assert "bare.onnx: no features config in the model's metadata" in refused.output
    assert "--fbank-config" in refused.output

    features_file = tmp_path / "features.yaml"
    features_file.write_text(yaml.safe_dump(FEATURES))
    given = CliRunner().invoke(main, ["verify", "--onnx", str(bare_path), "--fbank-config", str(features_file), *data])
    with_metadata = CliRunner().invoke(main, ["verify", "--onnx", str(onnx_path), *data])
    assert given.exit_code == 0 and with_metadata.exit_code == 0, given.output + with_metadata.output
    np.testing.assert_allclose(_scores(given.stdout)[1], _scores(with_metadata.stdout)[1], atol=1e-6)

    # --exp still supplies the features of a bare file
    from_exp = CliRunner().invoke(main, ["verify", "--onnx", str(bare_path), "--exp", str(exp), *data])
    assert from_exp.exit_code == 0, from_exp.output
    np.testing.assert_allclose(_scores(from_exp.stdout)[1], _scores(with_metadata.stdout)[1], atol=1e-6)


def test_fbank_config_is_refused_with_exp(exported, user_data, tmp_path):
    exp, _onnx, _dim = exported
    features_file = tmp_path / "features.yaml"
    features_file.write_text("num_mel_bins: 80\n")
    result = CliRunner().invoke(main, ["verify", "--exp", str(exp), "--fbank-config", str(features_file),
                                       "--wav-scp", str(user_data / "wav.scp"), "--trials", str(user_data / "trials")])
    assert result.exit_code == 1 and "--fbank-config goes with --onnx" in result.output


def test_torchscript_export_stores_the_same_metadata(exported, tmp_path):
    from bccmt_tools.deploy.export import read_torchscript_metadata

    exp, onnx_path, _dim = exported
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(main, ["export", "--exp", str(exp), "--format", "torchscript", "--out", str(out)])
    assert result.exit_code == 0, result.output
    import onnxruntime

    onnx_metadata = onnxruntime.InferenceSession(str(onnx_path)).get_modelmeta().custom_metadata_map
    assert read_torchscript_metadata(out) == {key: onnx_metadata[key] for key in METADATA_KEYS.values()}


def test_torch_paths_say_what_to_use_when_torch_is_missing(exported, user_data):
    exp, onnx_path, _dim = exported
    data = ["--wav-scp", str(user_data / "wav.scp"), "--trials", str(user_data / "trials")]
    with_exp = _verify_without_torch(["--exp", str(exp), *data])
    assert with_exp.returncode == 1 and "Error: --exp needs torch" in with_exp.stderr
    torchaudio_frontend = _verify_without_torch(["--onnx", str(onnx_path), "--fbank-frontend", "torchaudio", *data])
    assert torchaudio_frontend.returncode == 1
    assert "Error: the torchaudio fbank front end needs torch" in torchaudio_frontend.stderr
