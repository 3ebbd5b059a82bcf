"""Attention-map distillation: layer mapping, zero for identical maps, gradients, mismatch errors."""

import pytest
import torch

from bccmt_tools.errors import BccmtError
from bccmt_tools.losses.kd import AttentionKD, attention_pair_loss, match_attention_maps, uniform_layer_mapping
from bccmt_tools.models import build_model


def _models():
    torch.manual_seed(0)
    tiny = build_model({"model": "bccmt", "model_conf": {"size": "tiny"}}).eval()
    torch.manual_seed(1)
    base = build_model({"model": "bccmt", "model_conf": {"size": "base"}}).eval()
    return tiny, base


def test_layer_mapping_tiny_against_base():
    assert [uniform_layer_mapping(s, t) for s, t in zip((2, 2, 4, 2), (3, 3, 8, 3))] == \
        [[1, 2], [1, 2], [1, 3, 5, 7], [1, 2]]
    assert uniform_layer_mapping(3, 3) == [0, 1, 2]
    assert uniform_layer_mapping(1, 5) == [4]


def test_kd_zero_for_identical_models_positive_otherwise_and_gradient_reaches_attention():
    torch.set_num_threads(1)
    tiny, base = _models()
    feats, lengths = torch.randn(2, 48, 80), torch.tensor([48, 48])
    with torch.no_grad():
        _, tiny_maps = tiny.forward_with_attention(feats, lengths)
        _, base_maps = base.forward_with_attention(feats, lengths)
    kd = AttentionKD()
    assert float(kd(tiny_maps, tiny_maps)) == pytest.approx(0.0, abs=1e-6)
    pairs = match_attention_maps(tiny_maps, base_maps)
    assert len(pairs) == 10 and pairs[4][0] == "stage 3 student block 1 <- teacher block 2"
    tiny.train()
    _, student_maps = tiny.forward_with_attention(feats, lengths)
    loss = kd(student_maps, base_maps)
    assert float(loss.detach()) > 0
    loss.backward()
    grads = {name: p.grad for name, p in tiny.named_parameters()}
    tables = [g for name, g in grads.items() if name.endswith("attention.bias.table")]
    assert len(tables) == 10 and all(g is not None and float(g.abs().sum()) > 0 for g in tables)
    assert any(g is not None and float(g.abs().sum()) > 0 for name, g in grads.items()
               if "attention" in name and not name.endswith("table"))
    assert all(g is None for name, g in grads.items() if name.startswith(("pool", "embedding")))
    mse = AttentionKD(kind="mse")(student_maps, base_maps)
    last = AttentionKD(last_only=True)
    assert float(mse.detach()) > 0 and len(match_attention_maps(tiny_maps, base_maps, last_only=True)) == 4
    assert float(last(tiny_maps, tiny_maps)) == pytest.approx(0.0, abs=1e-6)


def test_kl_matches_its_definition_with_clamping():
    teacher = torch.tensor([[[[0.5, 0.5, 0.0]]]])
    student = torch.tensor([[[[0.25, 0.75, 0.0]]]])
    expected = 0.5 * torch.log(torch.tensor(2.0)) + 0.5 * torch.log(torch.tensor(0.5 / 0.75))
    assert float(attention_pair_loss(student, teacher)) == pytest.approx(float(expected), rel=1e-5)


def _maps(shapes):
    return [[torch.softmax(torch.randn(*shape), dim=-1) for shape in stage] for stage in shapes]


def test_unmatchable_maps_say_why():
    student = _maps([[(2, 1, 8, 1)], [(2, 2, 4, 1)]])
    with pytest.raises(BccmtError, match="2 attention stages and the teacher 1"):
        match_attention_maps(student, _maps([[(2, 1, 8, 1)]]))
    with pytest.raises(BccmtError, match="stage 2 .* 2 heads and the teacher 4"):
        match_attention_maps(student, _maps([[(2, 1, 8, 1)], [(2, 4, 4, 1)]]))
    with pytest.raises(BccmtError, match="no attention maps"):
        match_attention_maps([], student)
    with pytest.raises(BccmtError, match="smaller than the student map"):
        match_attention_maps(_maps([[(2, 1, 8, 2)]]), _maps([[(2, 1, 4, 2)]]), resize_teacher=True)
    with pytest.raises(BccmtError, match="map shapes differ.*resize_teacher"):
        match_attention_maps(_maps([[(2, 1, 4, 2)]]), _maps([[(2, 1, 8, 4)]]))
    with pytest.raises(BccmtError, match="stage 1 has 0 student and 1 teacher"):
        match_attention_maps([[], [student[1][0]]], _maps([[(2, 1, 8, 1)], [(2, 2, 4, 1)]]))


def test_finer_teacher_maps_are_pooled_and_renormalised():
    student = _maps([[(1, 2, 4, 2)]])
    teacher = _maps([[(1, 2, 8, 4)]])
    (_, _, fitted), = match_attention_maps(student, teacher, resize_teacher=True)
    assert fitted.shape == (1, 2, 4, 2)
    assert torch.allclose(fitted.sum(-1), torch.ones(1, 2, 4))


def test_conventional_and_proposed_maps_cannot_be_matched():
    torch.set_num_threads(1)
    tiny = build_model({"model": "bccmt", "model_conf": {"size": "tiny"}}).eval()
    conventional = build_model({"model": "bccmt", "model_conf": {"size": "tiny", "attention": "spectro_temporal"}}).eval()
    feats, lengths = torch.randn(1, 32, 80), torch.tensor([32])
    with torch.no_grad():
        _, proposed_maps = tiny.forward_with_attention(feats, lengths)
        _, conventional_maps = conventional.forward_with_attention(feats, lengths)
    with pytest.raises(BccmtError, match="attention KD: stage 1 .* map shapes differ .* 1x1x640x12"):
        AttentionKD()(proposed_maps, conventional_maps)
