"""The layout of an experiment dir ``exp/<name>/``, as :mod:`bccmt_tools.io.datadir` owns data dirs.

::

    exp/<name>/config.yaml                  the resolved training config (bccmt train)
    exp/<name>/checkpoints/epoch_NNNN.pt    one checkpoint per epoch
    exp/<name>/avg_model.pt                 the averaged model (bccmt average-model)
    exp/<name>/model.onnx, model.torchscript.pt, model.int8.onnx   exports (bccmt export)
    exp/<name>/log/train.log                the training log

No torch here: paths, listing and the config only.

>>> import tempfile; exp = tempfile.mkdtemp()
>>> checkpoint_path(exp, 3).relative_to(exp).as_posix(), train_log_path(exp).relative_to(exp).as_posix()
('checkpoints/epoch_0003.pt', 'log/train.log')
>>> _ = checkpoint_path(exp, 3).parent.mkdir(); _ = checkpoint_path(exp, 3).write_bytes(b"")
>>> default_checkpoint(exp).name  # no avg_model.pt: the newest epoch
'epoch_0003.pt'
"""

import contextlib
import os
import re
import time
from pathlib import Path

from bccmt_tools.errors import BccmtError

CONFIG = "config.yaml"
CHECKPOINTS = "checkpoints"
AVERAGED = "avg_model.pt"
LOG_DIR = "log"
TRAIN_LOG = "train.log"
#: ``bccmt export`` file names by format, and of the int8 ONNX export.
EXPORTS = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx"}
INT8_EXPORT = "model.int8.onnx"
#: Files of a trained experiment that a fresh run would leave stale beside its new config.
TRAINED_OUTPUTS = (AVERAGED, EXPORTS["onnx"], EXPORTS["torchscript"])
#: Keys every experiment config.yaml has (what a model needs).
REQUIRED_KEYS = ("model", "model_conf", "features")

EPOCH_FILE = re.compile(r"^epoch_(\d+)\.pt$")


def config_path(exp_dir):
    return Path(exp_dir) / CONFIG


def checkpoint_dir(exp_dir):
    return Path(exp_dir) / CHECKPOINTS


def checkpoint_path(exp_dir, epoch):
    return checkpoint_dir(exp_dir) / f"epoch_{int(epoch):04d}.pt"


def averaged_path(exp_dir):
    return Path(exp_dir) / AVERAGED


def export_path(exp_dir, fmt):
    """``model.onnx`` / ``model.torchscript.pt`` of an experiment; ``fmt`` "int8": ``model.int8.onnx``."""
    return Path(exp_dir) / (INT8_EXPORT if fmt == "int8" else EXPORTS[fmt])


def train_log_path(exp_dir):
    return Path(exp_dir) / LOG_DIR / TRAIN_LOG


def list_epoch_checkpoints(exp_dir):
    """``[(epoch, path)]`` of ``exp_dir/checkpoints/epoch_*.pt``, oldest first."""
    directory = checkpoint_dir(exp_dir)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = EPOCH_FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(exp_dir):
    """The newest epoch checkpoint, or None."""
    checkpoints = list_epoch_checkpoints(exp_dir)
    return checkpoints[-1][1] if checkpoints else None


def default_checkpoint(exp_dir):
    """The model of an experiment: ``avg_model.pt`` when present, else the newest epoch checkpoint."""
    averaged = averaged_path(exp_dir)
    if averaged.is_file():
        return averaged
    latest = latest_checkpoint(exp_dir)
    if latest is None:
        raise BccmtError(f"{exp_dir}: no {AVERAGED} and no {CHECKPOINTS}/epoch_*.pt to load")
    return latest


def trained_outputs(exp_dir):
    """Paths in ``exp_dir`` that show a model was trained there: epoch checkpoints, the averaged
    model and its exports."""
    exp_dir = Path(exp_dir)
    found = [path for _, path in list_epoch_checkpoints(exp_dir)]
    return found + [exp_dir / name for name in TRAINED_OUTPUTS if (exp_dir / name).exists()]


def _own_files(exp_dir):
    """``{path: what it is}`` of the files an experiment's tools read or made."""
    exp_dir = Path(exp_dir)
    files = {config_path(exp_dir): "config", train_log_path(exp_dir): "training log",
             averaged_path(exp_dir): "averaged model"}
    files.update({path: f"checkpoint {path.name}" for _, path in list_epoch_checkpoints(exp_dir)})
    files.update({export_path(exp_dir, fmt): f"{fmt} export" for fmt in (*EXPORTS, "int8")})
    return files


def refuse_overwriting(out_path, exp_dir, own_output, option="--out"):
    """A one-line error when ``out_path`` is one of ``exp_dir``'s files (its config, log, averaged
    model, checkpoints or exports, or any path in its checkpoints/ folder) other than
    ``own_output``, the file the tool makes there by default. Symbolic links count as their target.

    >>> import tempfile; exp = Path(tempfile.mkdtemp()); _ = config_path(exp).write_text("model: x")
    >>> refuse_overwriting(exp / "model.onnx", exp, exp / "model.onnx")  # its own output: fine
    >>> refuse_overwriting(exp / "config.yaml", exp, exp / "model.onnx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: --out .../config.yaml: that is the experiment's config; ... (default: .../model.onnx)
    """
    out = Path(out_path).resolve()
    if out == Path(own_output).resolve():
        return
    what = next((name for path, name in _own_files(exp_dir).items() if path.resolve() == out), None)
    if what is None and checkpoint_dir(exp_dir).resolve() in out.parents:
        what = "checkpoints/ folder"
    if what is not None:
        raise BccmtError(f"{option} {out_path}: that is the experiment's {what}; writing there "
                         f"would replace it: give another path (default: {own_output})")


def lock_path(exp_dir):
    """The lock file of an experiment: ``.<name>.lock`` beside its folder (never deleted: removing a
    lock file others may be waiting on would let two runs in)."""
    exp_dir = Path(exp_dir)
    return exp_dir.parent / f".{exp_dir.name or 'exp'}.lock"


@contextlib.contextmanager
def experiment_lock(exp_dir, what="train", wait=5.0):
    """Hold an exclusive lock on ``exp_dir`` for the ``with`` block; a second process asking for
    it meanwhile gets a one-line error naming the holder. The lock is the operating system's
    (``flock``): a killed holder releases it, so a crash never leaves the experiment locked. It is
    tried for ``wait`` seconds first (a holder killed a moment ago may still be exiting).

    >>> import tempfile; exp = Path(tempfile.mkdtemp()) / "tiny"
    >>> with experiment_lock(exp):
    ...     pass
    """
    import fcntl

    path = lock_path(exp_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise BccmtError(f"{exp_dir}: cannot create its lock {path}: {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                    raise BccmtError(f"{exp_dir}: in use by {holder}; wait for it to finish, or give another "
                                     "--exp") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"bccmt {what} (pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')})".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_experiment(exp_dir):
    """True when ``exp_dir`` has a config.yaml, a checkpoints/ folder or trained outputs."""
    return config_path(exp_dir).is_file() or checkpoint_dir(exp_dir).is_dir() or bool(trained_outputs(exp_dir))


def read_config(exp_dir) -> dict:
    """``exp_dir/config.yaml`` as a dict, checked for the keys a model needs."""
    from bccmt_tools.io.yaml_io import read_yaml_mapping

    path = config_path(exp_dir)
    if not path.is_file():
        raise BccmtError(f"{path}: file not found (is {exp_dir} an experiment directory?)")
    config = read_yaml_mapping(path)
    for key in REQUIRED_KEYS:
        if key not in config:
            raise BccmtError(f"{path}: key '{key}': missing")
    return config
