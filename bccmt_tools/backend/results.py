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
