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
