"""DET curves (miss vs false-alarm rate on normal-deviate axes), plotted with matplotlib.

The axis range comes from the data: it reaches down to the smallest non-zero error rate the
trial list can show and up past every EER and minDCF point, so a system at 33% EER is drawn in
full instead of as the corner of a line. Several back-ends of one trial list go in one figure,
each with its EER point (circle) and minDCF operating points (other markers).

matplotlib is an optional extra (``pip install bccmt-tools[plot]``); it is imported only when a
plot is drawn. The range is plain numpy:

>>> low, high = det_axis_limits([0.0003, 0.002], [0.33, 0.05])
>>> low, high
(0.0002, 0.6)
>>> det_axis_limits([0.01], [0.01])
(0.005, 0.4)
"""

import os
from collections import namedtuple
from statistics import NormalDist

import numpy as np

from bccmt_tools.backend.metrics import compute_eer, compute_min_dcf, operating_points
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import temp_name_for

# Tick positions (probabilities) offered on both axes: a 1-2-5 series, then symmetric above 50%.
DET_TICKS = (0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
             0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999)
MIN_UPPER = 0.4        # the upper limit is never below 40%, the usual NIST-style DET range
MAX_UPPER = 0.99       # points above it (a minDCF that rejects nearly everything) sit on the border
MARGIN_PROBIT = 0.5    # space kept between the highest marked point and the upper limit (normal deviates)

DetSummary = namedtuple("DetSummary", "name p_fa p_miss eer min_dcfs num_target num_nontarget")


def summarize_det(name, scores, labels, p_targets=(0.01, 0.05), c_miss=1.0, c_fa=1.0):
    """Curve, EER and minDCF operating points of one score set (what ``plot_det`` draws).

    >>> s = summarize_det("cosine", [0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], p_targets=(0.01,))
    >>> s.eer, s.num_target, s.num_nontarget, len(s.min_dcfs)
    (0.5, 2, 2, 1)
    """
    points = operating_points(scores, labels)
    eer = compute_eer(scores, labels, points).eer
    dcfs = [compute_min_dcf(scores, labels, p, c_miss, c_fa, points) for p in p_targets]
    labels = np.asarray(labels).astype(bool)
    return DetSummary(name, points.p_fa, points.p_miss, eer, dcfs, int(labels.sum()), int((~labels).sum()))


def _tick_at_or_below(value):
    below = [t for t in DET_TICKS if t <= value * (1 + 1e-9)]
    return below[-1] if below else DET_TICKS[0]


def _tick_at_or_above(value):
    above = [t for t in DET_TICKS if t >= value * (1 - 1e-9)]
    return above[0] if above else DET_TICKS[-1]


_NORMAL = NormalDist()


def _probit(p):
    return _NORMAL.inv_cdf(p)


def _normal_cdf(x):
    return _NORMAL.cdf(x)


def det_axis_limits(smallest_rates, marked_rates):
    """Common (low, high) probability limits of both DET axes, snapped to ``DET_TICKS``.

    ``smallest_rates``: the smallest non-zero rate each curve can show (1 / number of target or
    non-target trials); the axes start at the tick at or below the smallest of them.
    ``marked_rates``: rates of the points that must be visible (EERs, minDCF operating points
    below 1); the axes end at least MARGIN_PROBIT normal deviates above the highest, never
    below MIN_UPPER and never above MAX_UPPER.
    """
    smallest = min([r for r in smallest_rates if r > 0] or [DET_TICKS[0]])
    marked = [r for r in marked_rates if 0 < r < 1]
    low = _tick_at_or_below(min([smallest] + [r / 2 for r in marked]))
    top = max(marked) if marked else 0.0
    high = MIN_UPPER if top <= 0 else max(MIN_UPPER, _normal_cdf(_probit(top) + MARGIN_PROBIT))
    high = min(_tick_at_or_above(high), MAX_UPPER)
    if low >= high:
        low = _tick_at_or_below(high / 10)
    return low, high


def label_ticks(low, high, max_labels=14):
    """The ticks of ``DET_TICKS`` in [low, high] that get a label: thinned so that labels stay at
    least 1/max_labels of the axis apart (on the normal-deviate scale).

    >>> label_ticks(0.001, 0.4)
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    >>> label_ticks(0.0002, 0.99)[:4]
    [0.0002, 0.001, 0.005, 0.02]
    """
    ticks = [t for t in DET_TICKS if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]
    gap = (_probit(high) - _probit(low)) / max_labels
    kept = []
    for tick in ticks:
        if not kept or _probit(tick) - _probit(kept[-1]) >= gap * 0.999:
            kept.append(tick)
    return kept


def _summaries_limits(summaries):
    smallest, marked = [], []
    for summary in summaries:
        smallest += [1.0 / summary.num_target, 1.0 / summary.num_nontarget]
        marked.append(summary.eer)
        for dcf in summary.min_dcfs:
            marked += [dcf.p_miss, dcf.p_fa]
    return det_axis_limits(smallest, marked)


_MARKERS = ("s", "^", "D", "v", "P", "X")


def plot_det(curves, path, title=None, p_targets=(0.01, 0.05), c_miss=1.0, c_fa=1.0):
    """Write a DET plot of ``curves``: a dict ``name -> (scores, labels)``, to ``path`` (png/pdf/svg).

    Every curve is drawn with its EER point and its minDCF operating point at each of
    ``p_targets`` (empty: none); the axis range is chosen from the data (``det_axis_limits``).
    Points outside the range (a minDCF that rejects everything) are drawn on the border.
    Returns the ``(low, high)`` axis limits.
    """
    if not curves:
        raise BccmtError("DET plot: no score sets to draw")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BccmtError("DET plots need matplotlib: pip install 'bccmt-tools[plot]' (or matplotlib)") from None
    from scipy.stats import norm

    summaries = [summarize_det(name, scores, labels, p_targets, c_miss, c_fa)
                 for name, (scores, labels) in curves.items()]
    low, high = _summaries_limits(summaries)
    ticks = label_ticks(low, high)
    minor = [t for t in DET_TICKS if low <= t <= high and t not in ticks]
    edge_low, edge_high = norm.ppf(low), norm.ppf(high)

    def to_axis(p):  # probit, clipped just beyond the range so lines run to the border
        return np.clip(norm.ppf(np.clip(p, 1e-12, 1 - 1e-12)), edge_low - 1.0, edge_high + 1.0)

    def on_border(p):
        return float(np.clip(norm.ppf(np.clip(p, 1e-12, 1 - 1e-12)), edge_low, edge_high))

    figure, axes = plt.subplots(figsize=(6.0, 7.2))
    for summary in summaries:
        dcf_text = ", ".join(f"minDCF({d.p_target:g}) {d.min_dcf:.3f}" for d in summary.min_dcfs)
        label = f"{summary.name}: EER {100 * summary.eer:.2f}%" + (f", {dcf_text}" if dcf_text else "")
        (line,) = axes.plot(to_axis(summary.p_fa), to_axis(summary.p_miss), linewidth=1.4, label=label)
        color = line.get_color()
        axes.plot([on_border(summary.eer)], [on_border(summary.eer)], "o", color=color, markersize=7,
                  markeredgecolor="black", markeredgewidth=0.6)
        for k, dcf in enumerate(summary.min_dcfs):
            axes.plot([on_border(dcf.p_fa)], [on_border(dcf.p_miss)], _MARKERS[k % len(_MARKERS)], color=color,
                      markersize=6, markeredgecolor="black", markeredgewidth=0.6)
    # Marker key (black): which symbol is which operating point.
    axes.plot([], [], "o", color="white", markeredgecolor="black", label="EER point")
    for k, p_target in enumerate(p_targets):
        axes.plot([], [], _MARKERS[k % len(_MARKERS)], color="white", markeredgecolor="black",
                  label=f"minDCF point, P_target {p_target:g}")
    positions = norm.ppf(ticks)
    text = [f"{100 * t:g}" for t in ticks]
    axes.set_xticks(positions, text)
    axes.set_yticks(positions, text)
    axes.set_xticks(norm.ppf(minor), minor=True)
    axes.set_yticks(norm.ppf(minor), minor=True)
    axes.set_xlim(edge_low, edge_high)
    axes.set_ylim(edge_low, edge_high)
    axes.plot([edge_low, edge_high], [edge_low, edge_high], color="0.75", linewidth=0.8, zorder=0)
    axes.set_xlabel("False alarm rate (%)")
    axes.set_ylabel("Miss rate (%)")
    axes.grid(True, which="both", color="0.9")
    axes.set_aspect("equal")
    if title:
        axes.set_title(title, fontsize="medium")
    # The legend goes below the axes: DET curves of weak systems fill every corner of the square.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="x-small", frameon=False)
    figure.tight_layout()
    save_figure(figure, path)
    plt.close(figure)
    return low, high


def finish_figure(figure, path, title=None):
    """Give ``figure`` its ``title``, lay it out, save it atomically to ``path`` and close it."""
    import matplotlib.pyplot as plt

    try:
        if title:
            figure.suptitle(title, fontsize="medium")
        figure.tight_layout()
        save_figure(figure, path)
    finally:
        plt.close(figure)


def save_figure(figure, path, dpi=120):
    """Save a matplotlib figure atomically (temporary name, then rename); format from the suffix."""
    tmp = temp_name_for(path)
    try:
        fmt = os.path.splitext(str(path))[1].lstrip(".") or "png"
        figure.savefig(tmp, dpi=dpi, format=fmt)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
