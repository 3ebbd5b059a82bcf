"""Knowledge distillation from a teacher: self-attention maps, embeddings and logits.

Attention maps follow the model contract: a list over stages of lists over blocks of softmax
maps ``[B, heads, T_q, T_k]``. Student block ``j`` of a stage with ``d_S`` blocks is matched to
teacher block ``ceil((j + 1) * d_T / d_S) - 1`` of the same stage (uniform, last-aligned);
heads are matched one-to-one.

>>> uniform_layer_mapping(4, 8)
[1, 3, 5, 7]
>>> uniform_layer_mapping(2, 3)
[1, 2]
"""

import torch
import torch.nn.functional as F
from torch import nn

from bccmt_tools.errors import BccmtError

MAP_FLOOR = 1e-8


def uniform_layer_mapping(student_depth, teacher_depth):
    """Teacher block index for each student block of one stage (uniform, last block aligned)."""
    if student_depth < 1 or teacher_depth < 1:
        raise ValueError("depths must be positive")
    return [-(-(j + 1) * teacher_depth // student_depth) - 1 for j in range(student_depth)]


def _shape_text(tensor):
    return "x".join(str(n) for n in tensor.shape)


def _fit_teacher_map(student_map, teacher_map, where, resize):
    """Average-pool a longer teacher map to the student's (T_q, T_k) and renormalise its rows."""
    s_q, s_k = student_map.shape[-2:]
    t_q, t_k = teacher_map.shape[-2:]
    if (s_q, s_k) == (t_q, t_k):
        return teacher_map
    if not resize:
        raise BccmtError(
            f"attention KD: {where}: map shapes differ (student {_shape_text(student_map)}, teacher "
            f"{_shape_text(teacher_map)}): different temporal strides, or 2D frequency x time maps (conventional "
            f"BC-CMT) against 1D time maps; set kd.attention.resize_teacher: true to average-pool the teacher "
            f"map when only the strides differ")
    if t_q < s_q or t_k < s_k:
        raise BccmtError(
            f"attention KD: {where}: teacher map {_shape_text(teacher_map)} is smaller than the student map "
            f"{_shape_text(student_map)}; the teacher needs the same or finer temporal resolution")
    batch, heads = teacher_map.shape[:2]
    pooled = F.adaptive_avg_pool2d(teacher_map.reshape(batch * heads, 1, t_q, t_k), (s_q, s_k))
    pooled = pooled.reshape(batch, heads, s_q, s_k)
    return pooled / pooled.sum(dim=-1, keepdim=True).clamp_min(MAP_FLOOR)


def match_attention_maps(student_maps, teacher_maps, last_only=False, resize_teacher=False):
    """Pair student and teacher maps: a list of ``(where, student_map, teacher_map)``.

    Raises BccmtError saying why when the maps cannot be matched (no maps, different stage
    counts, a stage empty on one side only, different batch or head counts, different map
    shapes unless ``resize_teacher`` allows pooling a finer teacher map).
    """
    if not student_maps or not any(student_maps):
        raise BccmtError("attention KD: the student model returns no attention maps (it has no self-attention); "
                         "set kd.attention.weight to 0 or use an attention model")
    if not teacher_maps or not any(teacher_maps):
        raise BccmtError("attention KD: the teacher model returns no attention maps (it has no self-attention)")
    if len(student_maps) != len(teacher_maps):
        raise BccmtError(f"attention KD: the student has {len(student_maps)} attention stages and the teacher "
                         f"{len(teacher_maps)}; maps are matched stage by stage")
    pairs = []
    for stage, (s_blocks, t_blocks) in enumerate(zip(student_maps, teacher_maps), 1):
        if not s_blocks and not t_blocks:
            continue
        if not s_blocks or not t_blocks:
            raise BccmtError(f"attention KD: stage {stage} has {len(s_blocks)} student and {len(t_blocks)} teacher "
                             f"attention blocks; both need at least one")
        mapping = uniform_layer_mapping(len(s_blocks), len(t_blocks))
        chosen = [len(s_blocks) - 1] if last_only else range(len(s_blocks))
        for j in chosen:
            k = mapping[j]
            s_map, t_map = s_blocks[j], t_blocks[k]
            where = f"stage {stage} student block {j + 1} <- teacher block {k + 1}"
            if s_map.dim() != 4 or t_map.dim() != 4:
                raise BccmtError(f"attention KD: {where}: maps must be [B, heads, T_q, T_k], got "
                                 f"{_shape_text(s_map)} and {_shape_text(t_map)}")
            if s_map.shape[0] != t_map.shape[0]:
                raise BccmtError(f"attention KD: {where}: batch sizes differ ({s_map.shape[0]} vs {t_map.shape[0]}); "
                                 f"the teacher must see the same batch")
            if s_map.shape[1] != t_map.shape[1]:
                raise BccmtError(f"attention KD: {where}: the student has {s_map.shape[1]} heads and the teacher "
                                 f"{t_map.shape[1]}; heads are matched one-to-one")
            pairs.append((where, s_map, _fit_teacher_map(s_map, t_map, where, resize_teacher)))
    if not pairs:
        raise BccmtError("attention KD: no attention blocks to match in any stage")
    return pairs


def attention_pair_loss(student_map, teacher_map, kind="kl"):
    """Loss of one matched pair: per query row, summed over keys; mean over batch, heads, rows.

    ``kind="kl"`` gives ``KL(teacher || student)`` with maps clamped at 1e-8 before the logs;
    ``kind="mse"`` gives the squared difference (same reduction).
    """
    student_map = student_map.float()
    teacher_map = teacher_map.detach().float()
    if kind == "kl":
        teacher_map = teacher_map.clamp_min(MAP_FLOOR)
        per_row = (teacher_map * (teacher_map.log() - student_map.clamp_min(MAP_FLOOR).log())).sum(dim=-1)
    elif kind == "mse":
        per_row = (student_map - teacher_map).pow(2).sum(dim=-1)
    else:
        raise BccmtError(f"attention KD: unknown kind {kind!r} (valid: kl, mse)")
    return per_row.mean()


class AttentionKD:
    """Distillation of self-attention maps, averaged over matched pairs.

    >>> import torch
    >>> maps = [[torch.softmax(torch.randn(2, 1, 6, 3), -1)]]
    >>> float(AttentionKD()(maps, maps))
    0.0
    """

    def __init__(self, kind="kl", last_only=False, resize_teacher=False):
        if kind not in ("kl", "mse"):
            raise BccmtError(f"attention KD: unknown kind {kind!r} (valid: kl, mse)")
        self.kind = kind
        self.last_only = bool(last_only)
        self.resize_teacher = bool(resize_teacher)

    def __call__(self, student_maps, teacher_maps):
        pairs = match_attention_maps(student_maps, teacher_maps, self.last_only, self.resize_teacher)
        losses = [attention_pair_loss(s_map, t_map, self.kind) for _, s_map, t_map in pairs]
        return torch.stack(losses).mean()


class EmbeddingKD(nn.Module):
    """Cosine distance between (projected) student and teacher embeddings: ``1 - cos``, batch mean.

    A trainable linear projection maps the student embedding to the teacher's size when the
    sizes differ; otherwise embeddings are compared directly.
    """

    def __init__(self, student_dim, teacher_dim):
        super().__init__()
        self.projection = nn.Linear(student_dim, teacher_dim, bias=False) if student_dim != teacher_dim else nn.Identity()

    def forward(self, student_embeddings, teacher_embeddings):
        projected = self.projection(student_embeddings.float())
        return (1.0 - F.cosine_similarity(projected, teacher_embeddings.detach().float(), dim=-1)).mean()


def logit_kd_loss(student_logits, teacher_logits, temperature=4.0):
    """Hinton KD: ``T^2 * KL(softmax(teacher/T) || softmax(student/T))``, batch mean."""
    t = float(temperature)
    teacher_log_probs = F.log_softmax(teacher_logits.detach().float() / t, dim=-1)
    student_log_probs = F.log_softmax(student_logits.float() / t, dim=-1)
    return F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True) * t * t


class LambdaWarmup:
    """A loss weight rising linearly from 0 to ``weight`` over ``warmup_epochs`` (fractional epochs).

    >>> warm = LambdaWarmup(1.0, warmup_epochs=2)
    >>> [warm(e) for e in (0.0, 1.0, 2.0, 5.0)]
    [0.0, 0.5, 1.0, 1.0]
    """

    def __init__(self, weight, warmup_epochs=0.0):
        self.weight = float(weight)
        self.warmup_epochs = float(warmup_epochs)

    def __call__(self, epoch):
        if self.warmup_epochs <= 0:
            return self.weight
        return self.weight * min(max(epoch / self.warmup_epochs, 0.0), 1.0)
