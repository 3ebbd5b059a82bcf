"""Epoch checkpoints: atomic save, listing, pruning, loading, and averaging of the last N.

Checkpoints live in ``exp_dir/checkpoints/epoch_NNNN.pt`` (layout: :mod:`bccmt_tools.io.expdir`);
each is a ``torch.save``d dict with "model", "classifier", "optimizer", "scheduler", "scaler",
"epoch", "step", "rng", "spk2id", "config" (and "kd" when a trainable KD projection exists).
"""

import contextlib
import os
import shutil
from pathlib import Path

import torch

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import remove_stale_temporaries, temp_name_for
from bccmt_tools.io.expdir import (  # noqa: F401  (the layout is io.expdir's; re-exported for callers)
    TRAINED_OUTPUTS,
    checkpoint_dir,
    checkpoint_path,
    is_experiment,
    latest_checkpoint,
    list_epoch_checkpoints,
    trained_outputs,
)
from bccmt_tools.io.torch_files import load_torch_file


def save_checkpoint(state, path):
    """``torch.save`` to a temporary name beside ``path``, then rename (never a partial file).

    Temporaries of ``path`` that a killed earlier save left behind are removed once it succeeds.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name_for(path)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # a full disk: torch's writer says "unexpected pos ..."
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        free = shutil.disk_usage(path.parent).free
        raise BccmtError(f"{path}: cannot write the checkpoint ({getattr(exc, 'strerror', None) or exc}; "
                         f"{free / 1e6:.0f} MB free in {path.parent}); nothing was written") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    remove_stale_temporaries(path)
    return path


def prune_checkpoints(exp_dir, keep):
    """Delete all but the newest ``keep`` epoch checkpoints (``keep <= 0`` keeps all)."""
    if keep <= 0:
        return []
    removed = []
    for _, path in list_epoch_checkpoints(exp_dir)[:-keep]:
        path.unlink()
        removed.append(path)
    return removed


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint dict as data (tensors and plain values only, see
    :mod:`bccmt_tools.io.torch_files`); a missing, unreadable or code-carrying file is a
    BccmtError naming it."""
    path = Path(path)
    state = load_torch_file(path, map_location)  # weights_only: a file that would run code is refused
    if not isinstance(state, dict) or "model" not in state:
        raise BccmtError(f"{path}: not a bccmt checkpoint (no 'model' entry)")
    return state


def average_state_dicts(state_dicts, where="checkpoints"):
    """Average floating-point tensors; integer tensors (e.g. ``num_batches_tracked``) come from the last.

    >>> a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(2)}
    >>> b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(4)}
    >>> average_state_dicts([a, b])
    {'w': tensor([2., 4.]), 'n': tensor(4)}
    """
    if not state_dicts:
        raise BccmtError(f"{where}: nothing to average")
    keys = list(state_dicts[-1].keys())
    for index, state in enumerate(state_dicts):
        if list(state.keys()) != keys:
            missing = set(keys) ^ set(state.keys())
            raise BccmtError(f"{where}: checkpoint {index + 1} has different parameters ({sorted(missing)[:5]})")
    averaged = {}
    for key in keys:
        last = state_dicts[-1][key]
        if torch.is_tensor(last) and torch.is_floating_point(last):
            total = torch.zeros_like(last, dtype=torch.float64)
            for state in state_dicts:
                if state[key].shape != last.shape:
                    raise BccmtError(f"{where}: parameter {key!r} changes shape between checkpoints")
                total += state[key].to(torch.float64)
            averaged[key] = (total / len(state_dicts)).to(last.dtype)
        else:
            averaged[key] = last.clone() if torch.is_tensor(last) else last
    return averaged


def average_checkpoints(exp_dir, num):
    """Average "model" (and "classifier") of the last ``num`` epoch checkpoints of ``exp_dir``.

    Returns the avg_model dict: "model", "classifier" (when present), "config", "spk2id" and
    "averaged" (the file names used).
    """
    checkpoints = list_epoch_checkpoints(exp_dir)
    if not checkpoints:
        raise BccmtError(f"{checkpoint_dir(exp_dir)}: no epoch_*.pt checkpoints to average")
    if num < 1:
        raise BccmtError(f"--num must be at least 1, got {num}")
    if num > len(checkpoints):
        raise BccmtError(f"{checkpoint_dir(exp_dir)}: asked to average {num} checkpoints but only "
                         f"{len(checkpoints)} exist (epochs {', '.join(str(e) for e, _ in checkpoints)})")
    chosen = [path for _, path in checkpoints[-num:]]
    states = [load_checkpoint(path) for path in chosen]
    where = str(checkpoint_dir(exp_dir))
    result = {"model": average_state_dicts([s["model"] for s in states], where)}
    if all(s.get("classifier") is not None for s in states):
        result["classifier"] = average_state_dicts([s["classifier"] for s in states], where)
    result["config"] = states[-1].get("config")
    result["spk2id"] = states[-1].get("spk2id")
    result["averaged"] = [path.name for path in chosen]
    return result


def refuse_existing_experiment(exp_dir):
    """Raise a one-line :class:`BccmtError` when ``exp_dir`` holds a trained model (a new run there
    would replace its checkpoints and leave its avg_model.pt / model.onnx beside another config)."""
    found = trained_outputs(exp_dir)
    if found:
        shown = ", ".join(path.name for path in found[:3]) + (f" (+{len(found) - 3} more)" if len(found) > 3 else "")
        raise BccmtError(f"{exp_dir}: already holds a trained model ({shown}); continue it with --resume, train "
                         f"into a new --exp, or start over with --overwrite (deletes what is in {exp_dir})")


def clear_experiment(exp_dir):
    """Delete everything inside ``exp_dir`` when it is a bccmt experiment (has config.yaml or
    checkpoints/); returns the names removed. Other folders are left alone (nothing to clear)."""
    import shutil

    exp_dir = Path(exp_dir)
    if not is_experiment(exp_dir):
        return []
    removed = []
    for entry in sorted(exp_dir.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry.name)
    return removed
