"""The models released in models/ load as plain data (weights-only) and compute embeddings."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from bccmt_tools.models.experiment import load_model_from_exp  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "models"
RELEASED = sorted(path.parent for path in MODELS.glob("*/*/avg_model.pt"))


def test_there_is_a_released_model():
    assert RELEASED, f"no models/*/*/avg_model.pt under {MODELS}"


@pytest.mark.parametrize("exp_dir", RELEASED, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_released_model_is_plain_data_and_embeds(exp_dir):
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(exp_dir / "avg_model.pt")) == []
    model, config = load_model_from_exp(exp_dir)
    feats = torch.randn(2, 150, 80)
    with torch.inference_mode():
        embeddings = model(feats, torch.tensor([150, 100]))
    assert embeddings.shape == (2, model.embedding_dim) and bool(torch.isfinite(embeddings).all())
    assert config["model"] == "bccmt"
    assert (exp_dir / "avg_model.pt").stat().st_size < 10 * 1024 * 1024


RELEASED_ONNX = sorted(MODELS.glob("*/*/model.onnx"))
BLOCK_TORCH = ("import sys\nsys.modules['torch'] = None\nsys.modules['torchaudio'] = None\n"
               "from bccmt_tools.cli import main\nmain(prog_name='bccmt')\n")


def _utt_id(voxceleb_path):
    return voxceleb_path.rsplit(".", 1)[0].replace("/", "-")


@pytest.mark.parametrize("onnx_path", RELEASED_ONNX, ids=lambda path: f"{path.parent.parent.name}/{path.parent.name}")
def test_released_onnx_verifies_real_speech_without_torch(onnx_path, minivox, tmp_path):
    """`bccmt verify --onnx models/.../model.onnx` right after install: torch-free, the scores of the
    PyTorch checkpoint beside it, and a trained verifier (EER far below chance) on the corpus's
    VoxCeleb1-O list (its first 300 trials)."""
    import subprocess
    import sys

    import numpy as np
    from click.testing import CliRunner

    from bccmt_tools.backend.metrics import compute_eer
    from bccmt_tools.cli import main

    lines = (minivox / "voxceleb1" / "veri_test2.txt").read_text().split("\n")[:300]
    trials = [line.split() for line in lines if line.strip()]
    paths = sorted({path for _label, *pair in trials for path in pair})
    (tmp_path / "wav.scp").write_text("".join(f"{_utt_id(p)} {minivox / 'voxceleb1' / 'wav' / p}\n" for p in paths))
    (tmp_path / "trials").write_text("".join(f"{_utt_id(e)} {_utt_id(t)}\n" for _label, e, t in trials))
    data = ["--wav-scp", str(tmp_path / "wav.scp"), "--trials", str(tmp_path / "trials")]
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "verify", "--onnx", str(onnx_path), *data],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    onnx_scores = np.array([float(line.split()[2]) for line in result.stdout.splitlines()])
    torch_run = CliRunner().invoke(main, ["verify", "--device", "cpu", "--exp", str(onnx_path.parent), *data])
    assert torch_run.exit_code == 0, torch_run.output
    torch_scores = np.array([float(line.split()[2]) for line in torch_run.stdout.splitlines()])
    assert onnx_scores.shape == torch_scores.shape == (len(trials),)
    np.testing.assert_allclose(onnx_scores, torch_scores, atol=2e-3)  # numpy vs torchaudio fbank
    labels = np.array([int(label) for label, _e, _t in trials])
    eer = compute_eer(onnx_scores, labels).eer
    assert eer < 0.3, f"EER {eer:.3f}: not a trained verifier"
