#!/usr/bin/env python3
"""Keep a finished study run in the repository, and bring it back as an experiment directory.

The machine that trains a run may be gone by the next session, and ``exp/`` with it; the study's
table (``run_compare.sh`` stage 4) needs every run. ``keep`` copies what the table, the SA-map
distance and a later release read into a flat folder of ``results/``; ``restore`` rebuilds the
experiment directory from it, so stage 4 runs on runs trained on other machines.

    python compare/study_runs.py keep exp/compare_so762_sp/tiny_s3 results/compare_so762/tiny_s3
    python compare/study_runs.py restore results/compare_so762/tiny_s3 exp/compare_so762_sp/tiny_s3
    python compare/study_runs.py keep --unfinished exp/compare_so762_sp/base_s1 /disk/that/outlives/base_s1

Kept: ``config.yaml``; ``train.log``, ``run.log``, ``wall_seconds`` (from ``log/``); each
``scores/NAME.cosine`` gzipped (``NAME.cosine.gz``, no timestamp: the same scores give the same
bytes) with its ``NAME.cosine.json``; and ``avg_model.pt`` reduced to the embedding model's weights
(the classifier over the training speakers is left out: 1.1 MB of a Tiny's 2.4 MB, read by no
evaluation). ``restore`` writes only files that are missing and never replaces one.

A model too large for ``results/`` (the Base's 7 MB) is kept where the repository allows it, as
a released model under ``models/``: ``keep --model-at FILE`` checks that FILE holds the run's
averaged weights and writes ``avg_model.pt.at``, FILE's path relative to the kept folder, instead
of the weights; ``restore`` copies FILE back to ``avg_model.pt``.

    python compare/study_runs.py keep --model-at ../../models/so762/teacher_base/avg_model.pt \
        exp/compare_so762_sp/base_s1 results/compare_so762/base_s1

A run still training (``--unfinished``: a run longer than a session) is kept with its newest epoch
checkpoint whole (weights, optimiser and random states: what ``bccmt train --resume`` continues
from) instead of scores and model, and the older checkpoints that the final average will read (the
last ``--num-avg`` epochs of ``trainer.epochs``) as weights only; ``restore`` puts them back under
``checkpoints/``. Such a checkpoint (7 MB for a Tiny, about 26 MB for the Base) is larger than the
repository tracks per file: keep it on a disk that outlives the machine, not in ``results/``.
"""

import argparse
import gzip
import os
import shutil
import sys
from pathlib import Path

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write
from bccmt_tools.io.expdir import EPOCH_FILE, latest_checkpoint, list_epoch_checkpoints, read_config

LOGS = ("train.log", "run.log", "wall_seconds")
MODEL_AT = "avg_model.pt.at"  # in a kept folder: where its model is kept instead
# Keys of a checkpoint that evaluation reads (load_model_from_exp: "model") or that say what it is.
MODEL_KEYS = ("model", "averaged", "epoch")


class StudyRunError(Exception):
    """A one-line reason why a run cannot be kept or restored."""


def kept_files(exp_dir, unfinished=False, num_avg=4):
    """``{name in the kept folder: source path}`` of an experiment directory.

    >>> import tempfile
    >>> exp = Path(tempfile.mkdtemp())
    >>> for name in ("config.yaml", "log/train.log", "scores/so762_test.cosine", "scores/so762_test.cosine.json"):
    ...     (exp / name).parent.mkdir(exist_ok=True); _ = (exp / name).write_text("x")
    >>> sorted(kept_files(exp))
    ['config.yaml', 'so762_test.cosine.gz', 'so762_test.cosine.json', 'train.log']
    """
    exp_dir = Path(exp_dir)
    files = {}
    if (exp_dir / "config.yaml").is_file():
        files["config.yaml"] = exp_dir / "config.yaml"
    for name in LOGS:
        if (exp_dir / "log" / name).is_file():
            files[name] = exp_dir / "log" / name
    for path in sorted((exp_dir / "scores").glob("*.cosine")):
        files[path.name + ".gz"] = path
    for path in sorted((exp_dir / "scores").glob("*.cosine.json")):
        files[path.name] = path
    if (exp_dir / "avg_model.pt").is_file() and not unfinished:
        files["avg_model.pt"] = exp_dir / "avg_model.pt"
    if unfinished:
        checkpoints = list_epoch_checkpoints(exp_dir)
        if checkpoints:
            epochs = int(read_config(exp_dir).get("trainer", {}).get("epochs", 0))
            for epoch, path in checkpoints:  # the newest whole; older ones only where the average reads them
                if path == checkpoints[-1][1] or epoch > epochs - num_avg:
                    files[path.name] = path
    return files


def restored_path(exp_dir, name):
    """Where a kept file goes back to in the experiment directory.

    >>> names = ("config.yaml", "train.log", "x.cosine.gz", "x.cosine.json", "avg_model.pt.at")
    >>> [str(restored_path("e", n)) for n in names]
    ['e/config.yaml', 'e/log/train.log', 'e/scores/x.cosine', 'e/scores/x.cosine.json', 'e/avg_model.pt']
    """
    exp_dir = Path(exp_dir)
    if name in LOGS:
        return exp_dir / "log" / name
    if name.endswith(".cosine.gz"):
        return exp_dir / "scores" / name[:-len(".gz")]
    if name.endswith(".cosine.json"):
        return exp_dir / "scores" / name
    if EPOCH_FILE.match(name):
        return exp_dir / "checkpoints" / name
    if name == MODEL_AT:
        return exp_dir / "avg_model.pt"
    return exp_dir / name


def _gzip_into(source, handle):
    with open(source, "rb") as src, gzip.GzipFile(filename="", mode="wb", fileobj=handle, compresslevel=9,
                                                 mtime=0) as out:
        shutil.copyfileobj(src, out)


def _gunzip_into(source, handle):
    with gzip.open(source, "rb") as src:
        shutil.copyfileobj(src, handle)


def _copy_into(source, handle):
    with open(source, "rb") as src:
        shutil.copyfileobj(src, handle)


def _weights_into(source, handle):
    """The checkpoint ``source`` reduced to :data:`MODEL_KEYS` (weights, what they are)."""
    import torch

    from bccmt_tools.io.torch_files import load_torch_file

    saved = load_torch_file(source)
    if not isinstance(saved, dict) or "model" not in saved:
        raise StudyRunError(f"{source}: key 'model': missing (not a bccmt checkpoint)")
    torch.save({key: saved[key] for key in MODEL_KEYS if key in saved}, handle)


def _check_same_model(kept_model, exp_dir):
    """Refuse ``kept_model`` unless its embedding-model weights are those of ``exp_dir/avg_model.pt``."""
    import torch

    from bccmt_tools.io.torch_files import load_torch_file

    ours = load_torch_file(Path(exp_dir) / "avg_model.pt").get("model", {})
    theirs = load_torch_file(kept_model)
    theirs = theirs.get("model") if isinstance(theirs, dict) else None
    if not isinstance(theirs, dict) or theirs.keys() != ours.keys() \
            or not all(torch.equal(theirs[key], ours[key]) for key in ours):
        raise StudyRunError(f"{kept_model}: not the weights of {exp_dir}/avg_model.pt (release the run's own model)")


def keep(exp_dir, out_dir, unfinished=False, num_avg=4, model_at=None):
    """Copy a finished run (or, ``unfinished``, one still training) into ``out_dir``; files there are
    replaced, and an unfinished run's older checkpoints there are removed. ``model_at``: a file
    holding the run's averaged weights, referred to instead of copied. Returns the names written."""
    exp_dir, out_dir = Path(exp_dir), Path(out_dir)
    if not (exp_dir / "config.yaml").is_file():
        raise StudyRunError(f"{exp_dir}/config.yaml: missing (not an experiment directory)")
    newest = latest_checkpoint(exp_dir) if unfinished else None
    if unfinished and newest is None:
        raise StudyRunError(f"{exp_dir}/checkpoints: no epoch_*.pt (nothing to continue from)")
    if not unfinished and not list((exp_dir / "scores").glob("*.cosine.json")):
        raise StudyRunError(f"{exp_dir}/scores: no *.cosine.json (score the run first: run_compare.sh stages 2-3)")
    files = kept_files(exp_dir, unfinished, num_avg)
    if model_at is not None:
        if "avg_model.pt" not in files:
            raise StudyRunError(f"{exp_dir}/avg_model.pt: missing, so --model-at has nothing to refer to")
        _check_same_model(model_at, exp_dir)
        del files["avg_model.pt"]
    for name, source in files.items():
        if name.endswith(".gz"):
            write = _gzip_into
        elif name == "avg_model.pt" or (EPOCH_FILE.match(name) and source != newest):
            write = _weights_into
        else:
            write = _copy_into
        with atomic_write(out_dir / name, "wb") as handle:
            write(source, handle)
    names = set(files)
    if model_at is not None:
        with atomic_write(out_dir / MODEL_AT, "w") as handle:
            handle.write(os.path.relpath(Path(model_at).resolve(), out_dir.resolve()) + "\n")
        names.add(MODEL_AT)
    for old in out_dir.iterdir():  # one checkpoint per kept run (the newest), one model or reference
        if (EPOCH_FILE.match(old.name) or old.name in ("avg_model.pt", MODEL_AT)) and old.name not in names:
            old.unlink()
    return sorted(names)


def restore(kept_dir, exp_dir):
    """Rebuild ``exp_dir`` from a kept run; returns the names restored (existing files are kept)."""
    kept_dir = Path(kept_dir)
    if not (kept_dir / "config.yaml").is_file():
        raise StudyRunError(f"{kept_dir}/config.yaml: missing (not a kept run)")
    restored = []
    for path in sorted(kept_dir.iterdir()):
        target = restored_path(exp_dir, path.name)
        if target.exists() or path.name.startswith("."):
            continue
        source = path
        if path.name == MODEL_AT:
            source = kept_dir / path.read_text().strip()
            if not source.is_file():
                raise StudyRunError(f"{path}: {source} is missing (the model this run was kept with)")
        with atomic_write(target, "wb") as handle:
            (_gunzip_into if path.name.endswith(".gz") else _copy_into)(source, handle)
        restored.append(path.name)
    return restored


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    keep_parser = sub.add_parser("keep", help="experiment directory -> kept folder")
    keep_parser.add_argument("--unfinished", action="store_true",
                             help="a run still training: its newest epoch checkpoint instead of scores and model")
    keep_parser.add_argument("--num-avg", type=int, default=4,
                             help="with --unfinished: checkpoints the final average reads (run_compare.sh --num-avg)")
    keep_parser.add_argument("--model-at", metavar="FILE",
                             help="the run's averaged model is kept in FILE (e.g. a release under models/), not here")
    keep_parser.add_argument("exp_dir")
    keep_parser.add_argument("out_dir")
    restore_parser = sub.add_parser("restore", help="kept folder -> experiment directory")
    restore_parser.add_argument("kept_dir")
    restore_parser.add_argument("exp_dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "keep":
            names = keep(args.exp_dir, args.out_dir, args.unfinished, args.num_avg, args.model_at)
            print(f"kept {args.exp_dir} -> {args.out_dir}: {' '.join(names)}")
        else:
            names = restore(args.kept_dir, args.exp_dir)
            print(f"restored {args.kept_dir} -> {args.exp_dir}: {' '.join(names) or 'nothing missing'}")
    except (StudyRunError, BccmtError, OSError) as error:
        sys.exit(f"study_runs.py: error: {error}")


if __name__ == "__main__":
    main()
