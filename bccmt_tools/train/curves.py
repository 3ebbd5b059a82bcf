"""Learning curves from ``exp/<tag>/log/train.log``: per-epoch values, and their picture.

``train.log`` holds one summary line per finished epoch (see ``training_log.TrainLog.epoch``):
``<date> <time> epoch 3/16 loss 7.9109 aam 7.9109 val_eer 0.2313 ... acc 0.3822 lr 1.914e-03
margin 0.200 samples/s 25.6 time 167.5s checkpoint <path>``; the progress lines
(``epoch 3 step 67/67 ...``) are ignored. A resumed run may log an epoch again: the last line
wins. Reading needs no torch; drawing needs matplotlib (Agg).

>>> lines = ["2026-12-01 15:38:52 epoch 2/16 loss 8.6576 aam 8.6576 acc 0.1950 lr 1.978e-03 margin 0.199 "
...          "samples/s 25.0 time 171.5s checkpoint exp/x/checkpoints/epoch_0002.pt",
...          "2026-12-01 15:41:39 epoch 3 step 67/67 loss 7.9109 aam 7.9109 acc 0.3822",
...          "2026-12-01 15:41:48 epoch 3/16 loss 7.9109 aam 7.9109 val_eer 0.2313 val_min_dcf 0.9633 "
...          "acc 0.3822 lr 1.914e-03 margin 0.200 samples/s 25.6 time 167.5s checkpoint exp/x/epoch_0003.pt"]
>>> epochs = parse_epoch_lines(lines)
>>> [(e["epoch"], e["loss"], e.get("val_eer")) for e in epochs]
[(2, 8.6576, None), (3, 7.9109, 0.2313)]
>>> epochs[1]["time"], epochs[1]["samples/s"], epochs[1]["epochs"]
(167.5, 25.6, 16)
"""

import os
import re

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.expdir import train_log_path

_EPOCH_LINE = re.compile(r"^\S+ \S+ epoch (\d+)/(\d+) (.*)$")
_TEXT_FIELDS = {"checkpoint"}
# loss terms drawn in the loss panel (every other numeric field has its own panel or is skipped)
_NOT_LOSS = {"acc", "lr", "margin", "samples/s", "time", "val_eer", "val_min_dcf", "epoch", "epochs"}


def parse_epoch_lines(lines, where="train.log"):
    """One dict per epoch (sorted by epoch; the last line of an epoch wins): ``epoch``, ``epochs``
    and every ``name value`` pair of the line (numbers as floats, ``checkpoint`` as text)."""
    by_epoch = {}
    for number, line in enumerate(lines, 1):
        match = _EPOCH_LINE.match(line.strip())
        if not match:
            continue
        fields = match.group(3).split()
        if len(fields) % 2:
            raise BccmtError(f"{where}:{number}: expected 'name value' pairs after 'epoch N/M', got {line.strip()!r}")
        entry = {"epoch": int(match.group(1)), "epochs": int(match.group(2))}
        for name, value in zip(fields[::2], fields[1::2]):
            if name in _TEXT_FIELDS:
                entry[name] = value
                continue
            try:
                entry[name] = float(value[:-1] if name == "time" and value.endswith("s") else value)
            except ValueError:
                raise BccmtError(f"{where}:{number}: field {name!r}: {value!r} is not a number") from None
        by_epoch[entry["epoch"]] = entry
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def read_training_log(exp_dir):
    """Per-epoch dicts of ``exp_dir/log/train.log`` (or of a train.log path given directly)."""
    path = exp_dir if os.path.isfile(exp_dir) else str(train_log_path(exp_dir))
    if not os.path.isfile(path):
        raise BccmtError(f"{path}: not found (is {exp_dir} a training experiment directory?)")
    with open(path, encoding="utf-8", errors="replace") as handle:
        epochs = parse_epoch_lines(handle, path)
    if not epochs:
        raise BccmtError(f"{path}: no finished epoch yet (no 'epoch N/M ...' summary line)")
    return epochs


def loss_terms(epochs):
    """Names of the loss terms logged (``loss`` first, in first-seen order), leaving out a term
    equal to ``loss`` on every epoch (``aam`` of a run without distillation).

    >>> loss_terms([{"loss": 2.0, "aam": 1.5, "kd_attention": 0.5, "acc": 0.1}])
    ['loss', 'aam', 'kd_attention']
    >>> loss_terms([{"loss": 2.0, "aam": 2.0, "acc": 0.1}])
    ['loss']
    """
    names = []
    for entry in epochs:
        for name in entry:
            if name not in _NOT_LOSS and name not in _TEXT_FIELDS and name not in names:
                names.append(name)
    names = [name for name in names
             if name == "loss" or any(entry.get(name) != entry.get("loss") for entry in epochs)]
    return sorted(names, key=lambda name: (name != "loss", names.index(name)))


def _series(epochs, name, scale=1.0):
    points = [(entry["epoch"], scale * entry[name]) for entry in epochs if name in entry]
    return [p[0] for p in points], [p[1] for p in points]


def plot_training(runs, path, title=None):
    """Draw loss terms, training accuracy, learning rate and validation EER per epoch of ``runs``
    (``name -> per-epoch dicts``) to ``path`` (png/svg/pdf), one colour per run."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BccmtError("plot-training needs matplotlib: pip install 'bccmt-tools[plot]' (or matplotlib)") from None
    from matplotlib.ticker import MaxNLocator

    from bccmt_tools.backend.det import finish_figure

    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    (loss_axes, acc_axes), (lr_axes, val_axes) = axes
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    any_validation = False
    for index, (name, epochs) in enumerate(runs.items()):
        color = colors[index % len(colors)]
        prefix = f"{name}: " if len(runs) > 1 else ""
        for k, term in enumerate(loss_terms(epochs)):
            loss_axes.plot(*_series(epochs, term), styles[k % len(styles)], color=color, marker=".",
                           label=f"{prefix}{term}")
        acc_axes.plot(*_series(epochs, "acc", 100.0), color=color, marker=".", label=f"{prefix}train accuracy")
        lr_axes.plot(*_series(epochs, "lr"), color=color, marker=".", label=f"{prefix}learning rate")
        x, eer = _series(epochs, "val_eer", 100.0)
        if x:
            any_validation = True
            best = min(range(len(eer)), key=eer.__getitem__)
            val_axes.plot(x, eer, color=color, marker="o", markersize=4,
                          label=f"{prefix}validation EER (best {eer[best]:.2f}% at epoch {x[best]})")
            val_axes.plot([x[best]], [eer[best]], "*", color=color, markersize=12)
    loss_axes.set_ylabel("loss")
    loss_axes.set_title("training loss terms", fontsize="medium")
    acc_axes.set_ylabel("accuracy (%)")
    acc_axes.set_title("training accuracy (AAM classifier, with margin)", fontsize="medium")
    lr_axes.set_ylabel("learning rate")
    rates = [entry["lr"] for epochs in runs.values() for entry in epochs if entry.get("lr", 0) > 0]
    if rates and max(rates) > 20 * min(rates):
        lr_axes.set_yscale("log")
    else:
        lr_axes.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    lr_axes.set_title("learning rate at the end of the epoch", fontsize="medium")
    val_axes.set_ylabel("EER (%)")
    val_axes.set_title("validation EER (held-out trials, cosine)", fontsize="medium")
    if not any_validation:
        val_axes.text(0.5, 0.5, "no validation in this log\n(set validation.data and validation.trials)",
                      ha="center", va="center", transform=val_axes.transAxes, color="0.4")
    for panel in axes.ravel():
        panel.grid(True, color="0.9")
        if panel.get_legend_handles_labels()[0]:
            panel.legend(fontsize="x-small")
    for panel in axes[1]:
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
    finish_figure(figure, path, title)
