"""Teacher and student self-attention maps of one utterance, paired as the KD loss pairs them.

:func:`matched_attention` runs both models on the same features and returns, for every pair the
attention-map distillation matches (``losses.kd.match_attention_maps``: per stage, student block
``j`` against teacher block ``ceil((j + 1) * d_T / d_S) - 1``), both maps and the pair's loss
(``KL(teacher || student)`` by default). :func:`plot_attention` draws them side by side.

>>> import torch
>>> from bccmt_tools.models import build_model
>>> _ = torch.manual_seed(0)
>>> tiny = build_model({"model": "bccmt", "model_conf": {"size": "tiny"}}).eval()
>>> pairs = matched_attention(tiny, tiny, torch.randn(150, 80))
>>> [(p.stage, p.student_block, p.teacher_block, round(p.loss, 6)) for p in pairs][:3]
[(1, 1, 1, 0.0), (1, 2, 2, 0.0), (2, 1, 1, 0.0)]
>>> pairs[0].teacher_map.shape  # heads, query frames, key frames (stage 1: keys pooled by 8, ceil(150 / 8) = 19)
(1, 150, 19)
"""

import re
from dataclasses import dataclass

import numpy as np

from bccmt_tools.errors import BccmtError

_WHERE = re.compile(r"stage (\d+) student block (\d+) <- teacher block (\d+)")


@dataclass
class AttentionPair:
    """One matched pair: maps ``[heads, T_q, T_k]`` (float numpy) and the pair's KD loss."""

    stage: int
    student_block: int
    teacher_block: int
    teacher_map: np.ndarray
    student_map: np.ndarray
    loss: float


def matched_attention(teacher, student, feats, kind="kl", last_only=False, resize_teacher=False):
    """:class:`AttentionPair` list for features ``feats`` [T, F] (already mean-normalised as the
    models expect), both models in eval mode, without gradients."""
    import torch

    from bccmt_tools.losses.kd import attention_pair_loss, match_attention_maps

    x = torch.as_tensor(np.asarray(feats, dtype=np.float32)).unsqueeze(0)
    lengths = torch.tensor([x.shape[1]])
    with torch.inference_mode():
        _, student_maps = student.eval().forward_with_attention(x, lengths)
        _, teacher_maps = teacher.eval().forward_with_attention(x, lengths)
        pairs = []
        for where, s_map, t_map in match_attention_maps(student_maps, teacher_maps, last_only, resize_teacher):
            stage, s_block, t_block = (int(n) for n in _WHERE.fullmatch(where).groups())
            loss = float(attention_pair_loss(s_map, t_map, kind))
            pairs.append(AttentionPair(stage, s_block, t_block, t_map[0].float().numpy(), s_map[0].float().numpy(),
                                       loss))
    return pairs


def plot_attention(pairs, path, head=None, title=None, kind="kl"):
    """Draw every pair as one row (teacher left, student right, one colour scale per row) to
    ``path``; maps are averaged over heads unless ``head`` (0-based) picks one."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BccmtError("plot-attention needs matplotlib: pip install 'bccmt-tools[plot]' (or matplotlib)") from None
    from bccmt_tools.backend.det import save_figure

    if not pairs:
        raise BccmtError("plot-attention: no matched attention maps to draw")
    figure, axes = plt.subplots(len(pairs), 2, figsize=(10, 1.9 * len(pairs) + 1.0), squeeze=False,
                                layout="constrained")
    loss_name = "KL(T||S)" if kind == "kl" else kind.upper()
    for row, pair in enumerate(pairs):
        maps = []
        for matrix in (pair.teacher_map, pair.student_map):
            if head is not None and not 0 <= head < matrix.shape[0]:
                raise BccmtError(f"--head {head}: stage {pair.stage} has {matrix.shape[0]} head(s) (0-based)")
            maps.append(matrix.mean(axis=0) if head is None else matrix[head])
        top = max(float(m.max()) for m in maps)
        heads = pair.teacher_map.shape[0]
        what = f"head {head}" if head is not None else f"mean of {heads} head{'s' if heads > 1 else ''}"
        titles = (f"stage {pair.stage}: teacher block {pair.teacher_block} ({what})",
                  f"student block {pair.student_block}: {loss_name} {pair.loss:.4f}")
        for column, (matrix, text) in enumerate(zip(maps, titles)):
            panel = axes[row][column]
            image = panel.imshow(matrix.T, origin="lower", aspect="auto", cmap="viridis", vmin=0.0, vmax=top,
                                 interpolation="nearest")
            panel.set_title(text, fontsize="small")
            panel.set_ylabel("key frame", fontsize="x-small")
            panel.tick_params(labelsize="x-small")
        colorbar = figure.colorbar(image, ax=list(axes[row]), fraction=0.03, pad=0.01)
        colorbar.ax.tick_params(labelsize="x-small")
    for panel in axes[-1]:
        panel.set_xlabel("query frame")
    mean = float(np.mean([pair.loss for pair in pairs]))
    figure.suptitle((title + "\n" if title else "") + f"self-attention maps paired as in KD; mean {loss_name} "
                    f"{mean:.4f} over {len(pairs)} pairs", fontsize="medium")
    try:
        save_figure(figure, path)
    finally:
        plt.close(figure)
    return mean
