"""Model registry, shapes, parameter counts, MACs and attention-map shapes."""

import math

import pytest
import torch
import yaml

from bccmt_tools.deploy.cost import count_macs, count_macs_split, count_parameters
from bccmt_tools.errors import BccmtError
from bccmt_tools.models import MODEL_REGISTRY, build_model, resolved_model_conf
from bccmt_tools.models.attention import relative_offsets
from bccmt_tools.train.model_file import PACKAGE_MODELS

CONF = PACKAGE_MODELS
torch.set_num_threads(1)


def load(name):
    with open(CONF / f"{name}.yaml", encoding="utf-8") as handle:
        return build_model(yaml.safe_load(handle), where=name).eval()


@pytest.fixture(scope="module")
def tiny():
    return load("bccmt_tiny")


@pytest.fixture(scope="module")
def base():
    return load("bccmt_base")


@pytest.mark.parametrize("name, target, tolerance", [
    ("bccmt_tiny", 271_440, 0.02),
    ("bccmt_small", 707_000, 0.05),
    ("bccmt_base", 1_740_000, 0.05),
    ("ecapa_tdnn_c512", 6_200_000, 0.02),
    ("ecapa_tdnn_c1024", 14_700_000, 0.02),
    ("resnet34", 6_600_000, 0.02),
])
def test_parameter_counts_match_targets(name, target, tolerance):
    assert abs(count_parameters(load(name)) - target) <= tolerance * target


@pytest.mark.parametrize("name", ["bccmt_tiny", "bccmt_small", "bccmt_base", "bccmt_tiny_conventional",
                                  "bccmt_tiny_freq_resolved", "bccmt_small_conventional", "bccmt_base_conventional", "ecapa_tdnn_c512",
                                  "resnet34"])
def test_embedding_shape_at_several_lengths(name):
    model = load(name)
    with torch.no_grad():
        for frames in (9, 16, 33):
            out = model(torch.randn(2, frames, 80), torch.tensor([frames, frames - 3]))
            assert out.shape == (2, model.embedding_dim)
            assert torch.isfinite(out).all()


def test_train_mode_gives_embeddings_and_gradients(tiny):
    model = build_model({"model": "bccmt", "model_conf": {"size": "tiny"}}).train()
    out = model(torch.randn(3, 40, 80), torch.tensor([40, 31, 20]))
    assert out.shape == (3, 192)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_proposed_tiny_needs_far_fewer_macs_than_conventional(tiny):
    conventional = load("bccmt_tiny_conventional")
    proposed_1s, conventional_1s = count_macs(tiny, 1.0), count_macs(conventional, 1.0)
    assert proposed_1s <= (1 - 0.368) * conventional_1s
    # proposed grows about linearly, the conventional about quadratically
    assert count_macs(tiny, 4.0) / proposed_1s < 4.6
    assert count_macs(conventional, 4.0) / conventional_1s > 6.0


def test_attention_products_are_counted_apart(tiny):
    conventional = load("bccmt_tiny_conventional")
    proposed, conv = count_macs_split(tiny, 2.0), count_macs_split(conventional, 2.0)
    assert 0 < proposed["attention_matmul_macs"] < 0.1 * proposed["macs"]  # 1D maps are small
    assert conv["attention_matmul_macs"] > 0.3 * conv["macs"]  # 2D maps dominate
    assert proposed["macs"] == count_macs(tiny, 2.0)
    ecapa = count_macs_split(load("ecapa_tdnn_c512"), 1.0)
    assert ecapa["attention_matmul_macs"] == 0  # no self-attention: nothing to leave out


def test_frequency_resolved_variant_keeps_the_proposed_maps_but_not_one_output_per_frame(tiny):
    variant = load("bccmt_tiny_freq_resolved")
    feats, lengths = torch.randn(2, 60, 80), torch.tensor([60, 41])
    with torch.no_grad():
        _, maps = variant.forward_with_attention(feats, lengths)
        _, proposed_maps = tiny.forward_with_attention(feats, lengths)
    assert [[m.shape for m in stage] for stage in maps] == [[m.shape for m in stage] for stage in proposed_maps]
    attention = variant.stages[0].blocks[0].attention
    x = torch.randn(1, 16, 20, 30)
    with torch.no_grad():
        out, _ = attention.eval()(x, torch.ones(1, 30))
        z = attention.frequency(attention.norm(x))
    # the proposed block adds the same output o to every bin; this one adds a different one per bin
    per_bin = out - x - z
    assert (per_bin - per_bin.mean(dim=2, keepdim=True)).abs().max() > 1e-3


def test_tiny_and_base_maps_match_per_aligned_block(tiny, base):
    feats, lengths = torch.randn(2, 37, 80), torch.tensor([37, 30])
    with torch.no_grad():
        _, student = tiny.forward_with_attention(feats, lengths)
        _, teacher = base.forward_with_attention(feats, lengths)
    assert [len(s) for s in student] == [2, 2, 4, 2] and [len(t) for t in teacher] == [3, 3, 8, 3]
    expected = [(2, 1, 37, 5), (2, 2, 19, 5), (2, 4, 10, 5), (2, 8, 10, 10)]
    for stage, (s_maps, t_maps) in enumerate(zip(student, teacher)):
        for j, s_map in enumerate(s_maps):
            t_map = t_maps[math.ceil((j + 1) * len(t_maps) / len(s_maps)) - 1]
            assert s_map.shape == t_map.shape == expected[stage]
            assert torch.allclose(s_map.sum(-1), torch.ones(()), atol=1e-5)


def test_padded_keys_get_no_attention(tiny):
    with torch.no_grad():
        _, maps = tiny.forward_with_attention(torch.randn(2, 40, 80), torch.tensor([40, 9]))
    # second utterance: 9 frames -> ceil(9/8) = 2 valid keys in stage 1
    assert torch.all(maps[0][0][1, :, :, 2:] == 0)


def test_baselines_have_no_maps():
    model = build_model({"model": "ecapa_tdnn", "model_conf": {"channels": 64, "mfa_channels": 96}}).eval()
    with torch.no_grad():
        emb, maps = model.forward_with_attention(torch.randn(1, 20, 80), torch.tensor([20]))
    assert emb.shape == (1, 192) and maps == []


def test_relative_bias_works_beyond_the_clip():
    index = relative_offsets(300, 300, 1, 64, torch.device("cpu"))
    assert index.min() == 0 and index.max() == 128
    model = build_model({"model": "bccmt", "model_conf": {"size": "tiny", "bias_clip": 4}}).eval()
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 150, 80), torch.tensor([150]))).all()


def test_unknown_model_lists_valid_names():
    with pytest.raises(BccmtError, match="unknown model 'bcmt'.*bccmt.*ecapa_tdnn.*resnet"):
        build_model({"model": "bcmt", "model_conf": {}}, where="conf/x.yaml")


def test_unknown_option_lists_valid_options():
    with pytest.raises(BccmtError, match=r"conf/x.yaml: key 'model_conf.widht'.*valid options:.*channels"):
        build_model({"model": "bccmt", "model_conf": {"widht": 3}}, where="conf/x.yaml")


@pytest.mark.parametrize("options, message", [
    ({"size": "huge"}, "size 'huge'"),
    ({"attention": "2d"}, "attention '2d'"),
    ({"n_mels": 64}, "not divisible by subbands"),
])
def test_bad_option_values_are_reported(options, message):
    with pytest.raises(BccmtError, match=message):
        build_model({"model": "bccmt", "model_conf": options})


def test_missing_model_key():
    with pytest.raises(BccmtError, match="key 'model': missing"):
        build_model({"model_conf": {}})


def test_resolved_conf_fills_the_size_preset():
    conf = resolved_model_conf({"model": "bccmt", "model_conf": {"size": "base"}})
    assert conf["channels"] == [32, 64, 96, 128] and conf["depths"] == [3, 3, 8, 3]
    assert build_model({"model": "bccmt", "model_conf": conf}).config == build_model(
        {"model": "bccmt", "model_conf": {"size": "base"}}).config


def test_registry_names():
    assert set(MODEL_REGISTRY) == {"bccmt", "ecapa_tdnn", "resnet"}


def test_a_new_module_declares_its_own_fold_pairs():
    """fuse_for_inference folds the (layer, BatchNorm) pairs a class declares in FOLD_PAIRS: a new
    model needs no edit of models/fuse.py."""
    from torch import nn

    from bccmt_tools.models.fuse import fuse_for_inference

    class ConvNorm(nn.Module):
        FOLD_PAIRS = (("conv", "norm"),)

        def __init__(self):
            super().__init__()
            self.conv, self.norm = nn.Conv1d(3, 4, 3, padding=1), nn.BatchNorm1d(4)

        def forward(self, x):
            return self.norm(self.conv(x))

    torch.manual_seed(0)
    module = ConvNorm().eval()
    module.norm.running_mean.uniform_(-1, 1)
    module.norm.running_var.uniform_(0.5, 2.0)
    fused = fuse_for_inference(module)
    assert isinstance(fused.norm, nn.Identity) and isinstance(module.norm, nn.BatchNorm1d)
    x = torch.randn(2, 3, 10)
    assert torch.allclose(fused(x), module(x), atol=1e-5)
