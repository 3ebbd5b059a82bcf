"""DET curve (miss vs false-alarm rate on normal-deviate axes), plotted with matplotlib.

matplotlib is an optional extra (``pip install bccmt-tools[plot]``); it is imported only here,
only when a plot is asked for.
"""

import os

import numpy as np

from bccmt_tools.backend.metrics import compute_eer, operating_points
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import temp_name_for

_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]


def det_curve(scores, labels):
    """Return ``(p_fa, p_miss)`` at every operating point (see metrics.operating_points)."""
    points = operating_points(scores, labels)
    return points.p_fa, points.p_miss


def plot_det(curves, path, title=None):
    """Write a DET plot of ``curves``: a dict ``name -> (scores, labels)``, to ``path`` (png/pdf/svg)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BccmtError("--det-plot needs matplotlib: pip install 'bccmt-tools[plot]' (or matplotlib)") from None
    from scipy.stats import norm

    limit = 1e-4  # rates of exactly 0 or 1 map to +-infinity on the probit scale
    figure, axes = plt.subplots(figsize=(5, 5))
    for name, (scores, labels) in curves.items():
        p_fa, p_miss = det_curve(scores, labels)
        eer = compute_eer(scores, labels).eer
        axes.plot(norm.ppf(np.clip(p_fa, limit, 1 - limit)), norm.ppf(np.clip(p_miss, limit, 1 - limit)),
                  label=f"{name} (EER {100 * eer:.2f}%)")
    ticks = norm.ppf(_TICKS)
    labels_text = [f"{100 * t:g}" for t in _TICKS]
    axes.set_xticks(ticks, labels_text)
    axes.set_yticks(ticks, labels_text)
    axes.set_xlim(ticks[0], ticks[-1])
    axes.set_ylim(ticks[0], ticks[-1])
    axes.plot([ticks[0], ticks[-1]], [ticks[0], ticks[-1]], color="0.8", linewidth=0.8)
    axes.set_xlabel("False alarm rate (%)")
    axes.set_ylabel("Miss rate (%)")
    axes.grid(True, color="0.9")
    axes.legend(loc="upper right", fontsize="small")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    tmp = temp_name_for(path)
    try:
        fmt = os.path.splitext(str(path))[1].lstrip(".") or "png"
        figure.savefig(tmp, dpi=120, format=fmt)
        os.replace(tmp, path)
    finally:
        plt.close(figure)
        if os.path.exists(tmp):
            os.unlink(tmp)
