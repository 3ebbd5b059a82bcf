"""RESULTS.md tables: one row per (model, trial list, back-end), updated in place.

Rows live between two marker comments, so the rest of the file (notes, other tables) is kept;
a row with the same model, trial list and back-end is replaced, new rows are appended.

>>> row = results_row({"eer_percent": 1.5, "min_dcf": {"0.01": {"min_dcf": 0.2}}},
...                   {"model": "tiny", "trials": "vox1_O", "backend": "cosine"})
>>> row[:4]
['tiny', 'vox1_O', 'cosine', '1.500']
"""

import json
import os

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write

COLUMNS = ("model", "trials", "back-end", "EER (%)", "minDCF(0.01)", "minDCF(0.05)", "checkpoint", "config", "data")
BEGIN = "<!-- bccmt-results begin: rows written by `bccmt make-results` (same model/trials/back-end are replaced) -->"
END = "<!-- bccmt-results end -->"
FIELDS = ("model", "trials", "backend", "checkpoint", "config", "data")


def load_metrics(path):
    """Read a compute-metrics --json file; errors name the file and the missing field."""
    try:
        with open(path, encoding="utf-8") as handle:
            metrics = json.load(handle)
    except FileNotFoundError:
        raise BccmtError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise BccmtError(f"{path}: not JSON (write it with compute-metrics --json): {exc}") from None
    for field in ("eer_percent", "min_dcf"):
        if field not in metrics:
            raise BccmtError(f"{path}: no {field!r}; is it a compute-metrics --json file?")
    return metrics


def describe(metrics, defaults, where):
    """Row fields for one metrics dict: its ``tags`` win over ``defaults``; trials fall back to
    the trial list's or score file's name."""
    fields = {name: value for name, value in defaults.items() if value}
    fields.update({name: value for name, value in metrics.get("tags", {}).items() if value})
    if "trials" not in fields:
        source = metrics.get("trials") or metrics.get("scores") or where
        fields["trials"] = os.path.basename(str(source))
    for name in ("model", "backend"):
        if name not in fields:
            raise BccmtError(f"{where}: no {name} for the row: give --{name} or compute-metrics --tag {name}=...")
    return fields


def _dcf(metrics, p_target):
    for name, value in metrics["min_dcf"].items():
        if abs(float(name) - p_target) < 1e-12:
            return f"{value['min_dcf']:.4f}"
    return "-"


def results_row(metrics, fields):
    """Cells of one table row."""
    return [fields["model"], fields["trials"], fields["backend"], f"{metrics['eer_percent']:.3f}",
            _dcf(metrics, 0.01), _dcf(metrics, 0.05), fields.get("checkpoint", "-"),
            fields.get("config", "-"), fields.get("data", "-")]


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _format(cells):
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def update_results(path, rows, title="Results"):
    """Insert or replace ``rows`` (lists of cells) in the table of ``path``; returns all rows."""
    before, existing, after = [f"# {title}", ""], [], []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        if BEGIN in lines and END in lines[lines.index(BEGIN):]:
            start = lines.index(BEGIN)
            stop = lines.index(END, start)
            before, after = lines[:start], lines[stop + 1:]
            existing = [_cells(line) for line in lines[start + 1:stop]
                        if line.startswith("|") and not line.startswith("|---")]
            existing = [cells for cells in existing if cells[:3] != list(COLUMNS[:3])]
        else:
            before = lines + [""]
    table = {tuple(cells[:3]): cells for cells in existing}
    for cells in rows:
        table[tuple(cells[:3])] = cells
    header = [_format(COLUMNS), "|" + "|".join(["---"] * 3 + ["---:"] * 3 + ["---"] * 3) + "|"]
    body = [_format(cells) for cells in table.values()]
    with atomic_write(path) as handle:
        handle.write("\n".join(before + [BEGIN] + header + body + [END] + after) + "\n")
    return list(table.values())


FIGURES_BEGIN = "<!-- bccmt-figures begin: links written by `bccmt make-results --figure` (same label is replaced) -->"
FIGURES_END = "<!-- bccmt-figures end -->"


def parse_figure(text):
    """``"LABEL=PATH"`` -> ``(label, path)``; errors say the expected form.

    >>> parse_figure("vox1_O DET=exp/x/scores/vox1_O.det.png")
    ('vox1_O DET', 'exp/x/scores/vox1_O.det.png')
    """
    label, sep, target = text.partition("=")
    if not sep or not label.strip() or not target.strip():
        raise BccmtError(f"--figure {text!r}: expected LABEL=PATH, e.g. 'vox1_O DET=exp/x/scores/vox1_O.det.png'")
    return label.strip(), target.strip()


def update_figures(path, figures, heading="Figures"):
    """Insert or replace image links ``figures`` (``(label, image path)`` pairs) in ``path``.

    Links live between their own marker comments (after the results table when the block is
    new); image paths are written relative to the folder of ``path``, so the Markdown renders
    wherever the experiment folder is moved. A link with the same label is replaced.
    Returns all ``(label, relative path)`` pairs of the block.
    """
    lines = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    existing = {}
    if FIGURES_BEGIN in lines and FIGURES_END in lines[lines.index(FIGURES_BEGIN):]:
        start = lines.index(FIGURES_BEGIN)
        stop = lines.index(FIGURES_END, start)
        for line in lines[start + 1:stop]:
            if line.startswith("![") and "](" in line and line.endswith(")"):
                label, target = line[2:-1].split("](", 1)
                existing[label] = target
        before, after = lines[:start], lines[stop + 1:]
    else:
        before, after = lines + ([""] if lines else []), []
    base = os.path.dirname(os.path.abspath(path))
    for label, target in figures:
        existing[label] = os.path.relpath(os.path.abspath(target), base).replace(os.sep, "/")
    block = [FIGURES_BEGIN, f"### {heading}", ""]
    for label, target in existing.items():
        block += [f"![{label}]({target})", ""]
    with atomic_write(path) as handle:
        handle.write("\n".join(before + block + [FIGURES_END] + after) + "\n")
    return list(existing.items())


CALIBRATION_COLUMNS = ("model", "trials", "back-end", "minDCF(0.01)", "actDCF(0.01)", "minDCF(0.05)", "actDCF(0.05)",
                       "Cllr", "min Cllr")
CALIBRATION_BEGIN = ("<!-- bccmt-calibration begin: rows written by `bccmt make-results` (scores read as LLRs; "
                     "same model/trials/back-end are replaced) -->")
CALIBRATION_END = "<!-- bccmt-calibration end -->"


def calibration_row(metrics, fields):
    """Cells of one calibration-table row (minDCF beside actDCF, Cllr beside min Cllr), or None
    for metrics without ``act_dcf`` (written before compute-metrics reported it).

    >>> metrics = {"min_dcf": {"0.01": {"min_dcf": 0.5}}, "act_dcf": {"0.01": {"act_dcf": 0.53}},
    ...            "cllr": 0.41, "min_cllr": 0.38}
    >>> calibration_row(metrics, {"model": "tiny", "trials": "vox1_O", "backend": "cosine_cal"})
    ['tiny', 'vox1_O', 'cosine_cal', '0.5000', '0.5300', '-', '-', '0.4100', '0.3800']
    """
    if "act_dcf" not in metrics or "cllr" not in metrics:
        return None

    def act(p_target):
        for name, value in metrics["act_dcf"].items():
            if abs(float(name) - p_target) < 1e-12:
                return f"{value['act_dcf']:.4f}"
        return "-"

    return [fields["model"], fields["trials"], fields["backend"], _dcf(metrics, 0.01), act(0.01), _dcf(metrics, 0.05),
            act(0.05), f"{metrics['cllr']:.4f}", f"{metrics['min_cllr']:.4f}"]


def update_calibration(path, rows, heading="Calibration"):
    """Insert or replace calibration-table ``rows`` in ``path`` (a RESULTS.md): a block of its own
    between marker comments, placed after the results table when new. Returns all rows."""
    lines = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    existing = []
    if CALIBRATION_BEGIN in lines and CALIBRATION_END in lines[lines.index(CALIBRATION_BEGIN):]:
        start = lines.index(CALIBRATION_BEGIN)
        stop = lines.index(CALIBRATION_END, start)
        existing = [_cells(line) for line in lines[start + 1:stop] if line.startswith("|")
                    and not line.startswith("|---") and _cells(line)[:3] != list(CALIBRATION_COLUMNS[:3])]
        before, after = lines[:start], lines[stop + 1:]
    elif END in lines:
        stop = lines.index(END)
        before, after = lines[:stop + 1] + [""], lines[stop + 1:]
    else:
        before, after = lines + ([""] if lines else []), []
    table = {tuple(cells[:3]): cells for cells in existing}
    for cells in rows:
        table[tuple(cells[:3])] = cells
    block = [CALIBRATION_BEGIN, f"### {heading}", "",
             "minDCF: the best threshold chosen afterwards on these trials; actDCF: decisions at the Bayes "
             "threshold log((1 - P) / P) with the scores read as LLRs (after calibration they are). "
             "Cllr in bits; min Cllr: after the best monotone map (PAV).", "",
             _format(CALIBRATION_COLUMNS), "|" + "|".join(["---"] * 3 + ["---:"] * 6) + "|"]
    block += [_format(cells) for cells in table.values()]
    with atomic_write(path) as handle:
        handle.write("\n".join(before + block + [CALIBRATION_END] + after) + "\n")
    return list(table.values())
