"""The score picture of ``compute-metrics --plot``: the DET curve beside target / non-target score
histograms with the thresholds a user would choose (EER, minDCF and, for LLRs, Bayes).

The DET panel is drawn by :func:`bccmt_tools.backend.det.plot_det` (the one DET drawing of the
toolkit) and placed beside the histograms. matplotlib (Agg) is imported only when drawing.

>>> thresholds = threshold_marks({"eer_threshold": 0.31, "min_dcf": {"0.01": {"threshold": 0.52}},
...                               "act_dcf": {"0.01": {"threshold": 4.595}}}, low=-0.2, high=0.9)
>>> [(round(value, 3), text) for value, text, _style, _color in thresholds]
[(0.31, 'EER threshold 0.31'), (0.52, 'minDCF(0.01) threshold 0.52')]
"""

import os

import numpy as np

from bccmt_tools.errors import BccmtError


_COLORS = ("tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:olive")


def threshold_marks(metrics, low, high):
    """``[(value, legend text, line style, colour)]`` of the EER and minDCF thresholds of
    ``metrics`` (a compute_metrics dict), and of the Bayes thresholds of ``act_dcf`` that fall in
    [low, high] (only scores that are LLRs reach them); one colour per P_target."""
    marks = [(metrics["eer_threshold"], f"EER threshold {metrics['eer_threshold']:.4g}", "--", "black")]
    colors = {}
    for name, dcf in metrics.get("min_dcf", {}).items():
        colors[name] = _COLORS[len(colors) % len(_COLORS)]
        marks.append((dcf["threshold"], f"minDCF({name}) threshold {dcf['threshold']:.4g}", ":", colors[name]))
    for name, act in metrics.get("act_dcf", {}).items():
        if low <= act["threshold"] <= high:
            marks.append((act["threshold"], f"Bayes threshold P_target {name} ({act['threshold']:.4g}): "
                                            f"actDCF {act['act_dcf']:.3f}", "-.", colors.get(name, "black")))
    return marks


def plot_scores(scores, labels, metrics, path, name="scores", title=None, bins=60):
    """Write ``path`` (png/svg/pdf): the DET curve of ``(scores, labels)`` on the left, their
    target and non-target histograms (densities) with :func:`threshold_marks` on the right."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.image
        import matplotlib.pyplot as plt
    except ImportError:
        raise BccmtError("--plot needs matplotlib: pip install 'bccmt-tools[plot]' (or matplotlib)") from None
    import tempfile

    from bccmt_tools.backend.det import finish_figure, plot_det

    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    p_targets = tuple(dcf["p_target"] for dcf in metrics.get("min_dcf", {}).values())
    with tempfile.TemporaryDirectory(prefix="bccmt-det-") as work:
        det_png = os.path.join(work, "det.png")
        plot_det({name: (scores, labels)}, det_png, p_targets=p_targets,
                 c_miss=_first(metrics, "c_miss"), c_fa=_first(metrics, "c_fa"))
        det_image = matplotlib.image.imread(det_png)

    figure, (det_axes, hist_axes) = plt.subplots(1, 2, figsize=(13, 7.2), gridspec_kw={"width_ratios": [1, 1.15]})
    det_axes.imshow(det_image)
    det_axes.set_axis_off()
    edges = np.histogram_bin_edges(scores, bins=bins)
    hist_axes.hist(scores[~labels], bins=edges, density=True, histtype="stepfilled", alpha=0.45, color="tab:red",
                   label=f"non-target ({int((~labels).sum())})")
    hist_axes.hist(scores[labels], bins=edges, density=True, histtype="stepfilled", alpha=0.45, color="tab:blue",
                   label=f"target ({int(labels.sum())})")
    for value, text, style, color in threshold_marks(metrics, edges[0], edges[-1]):
        hist_axes.axvline(value, color=color, linestyle=style, linewidth=1.3, label=text)
    hist_axes.set_xlabel("score")
    hist_axes.set_ylabel("density")
    hist_axes.set_title(f"{name}: EER {metrics['eer_percent']:.2f}%, Cllr {metrics.get('cllr', float('nan')):.3f} "
                        f"(min {metrics.get('min_cllr', float('nan')):.3f})", fontsize="medium")
    hist_axes.legend(loc="best", fontsize="x-small")
    hist_axes.grid(True, color="0.92")
    finish_figure(figure, path, title)


def _first(metrics, key):
    for dcf in metrics.get("min_dcf", {}).values():
        return dcf[key]
    return 1.0
