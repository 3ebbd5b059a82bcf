"""A padded batch gives the same embeddings as extracting each utterance alone (eval mode)."""

import pytest
import torch

from bccmt_tools.models import build_model

torch.set_num_threads(1)

CONFIGS = {
    "bccmt_tiny": {"model": "bccmt", "model_conf": {"size": "tiny"}},
    "bccmt_tiny_conventional": {"model": "bccmt", "model_conf": {"size": "tiny", "attention": "spectro_temporal"}},
    "bccmt_tiny_freq_resolved": {"model": "bccmt", "model_conf": {"size": "tiny", "attention": "temporal_freq_resolved"}},
    "bccmt_tiny_flat_asp": {"model": "bccmt", "model_conf": {"size": "tiny", "pooling": "asp"}},
    "ecapa_tdnn": {"model": "ecapa_tdnn", "model_conf": {"channels": 64, "mfa_channels": 96}},
    "resnet": {"model": "resnet", "model_conf": {"base_channels": 8}},
}


def randomise_batchnorm(model):
    """Non-trivial running statistics and affine parameters, so that padding errors would show."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            shape = module.running_mean.shape
            module.running_mean.copy_(0.5 * torch.randn(shape, generator=generator))
            module.running_var.copy_(0.5 + 1.5 * torch.rand(shape, generator=generator))
            module.weight.data.copy_(1 + 0.3 * torch.randn(shape, generator=generator))
            module.bias.data.copy_(0.3 * torch.randn(shape, generator=generator))
    return model.eval()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_padded_batch_equals_one_by_one(name):
    torch.manual_seed(0)
    model = randomise_batchnorm(build_model(CONFIGS[name]))
    lengths = [37, 50, 23, 41, 1]
    feats = torch.randn(len(lengths), max(lengths), 80)
    for index, length in enumerate(lengths):
        feats[index, length:] = 100.0  # garbage in the padding must not leak into valid frames
    with torch.no_grad():
        batch = model(feats, torch.tensor(lengths))
        single = torch.cat([model(feats[i:i + 1, :n], torch.tensor([n])) for i, n in enumerate(lengths)])
    assert torch.isfinite(batch).all()
    assert (batch - single).abs().max().item() < 1e-5


def test_maps_of_valid_queries_equal_one_by_one():
    model = randomise_batchnorm(build_model(CONFIGS["bccmt_tiny"]))
    feats = torch.randn(2, 45, 80)
    with torch.no_grad():
        _, batch_maps = model.forward_with_attention(feats, torch.tensor([45, 29]))
        _, single_maps = model.forward_with_attention(feats[1:, :29], torch.tensor([29]))
    for batch_stage, single_stage in zip(batch_maps, single_maps):
        for batch_map, single_map in zip(batch_stage, single_stage):
            tq, tk = single_map.shape[-2:]
            assert torch.allclose(batch_map[1, :, :tq, :tk], single_map[0], atol=1e-5)


def test_attention_map_skips_the_fill_only_when_nothing_is_padded(monkeypatch):
    """Unpadded keys: the same map without the -inf fill (a training-speed shortcut); padded keys
    are still masked, and a traced (exported) graph always keeps the fill."""
    from bccmt_tools.models.attention import attention_map

    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 2, 6, 4, generator=generator), torch.randn(2, 2, 4, 3, generator=generator)
    bias = torch.randn(2, 6, 3, generator=generator)
    fills = []
    original = torch.Tensor.masked_fill
    monkeypatch.setattr(torch.Tensor, "masked_fill", lambda self, *a: fills.append(1) or original(self, *a))
    full = attention_map(q, k, bias, torch.ones(2, 3))
    assert not fills
    reference = torch.softmax(torch.matmul(q / 2.0, k) + bias, dim=-1)
    assert torch.equal(full, reference)
    padded = attention_map(q, k, bias, torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
    assert fills and torch.all(padded[0, :, :, 2] == 0) and torch.equal(padded[1], reference[1])
    fills.clear()
    torch.jit.trace(lambda a, b: attention_map(a, b, bias, torch.ones(2, 3)), (q, k))
    assert fills
