"""The training loop: data, model, AAM-softmax, optional distillation, checkpoints, resume, DDP.

>>> from bccmt_tools.train.config import load_config  # doctest: +SKIP
>>> config = load_config("conf/train/teacher_base_mini.yaml")  # doctest: +SKIP
>>> Trainer(config, "data/train", "exp/teacher").run()  # doctest: +SKIP
"""

import contextlib
import math
import sys
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from bccmt_tools.data.collate import collate_crops
from bccmt_tools.data.dataset import build_dataset
from bccmt_tools.data.sampler import EpochSampler
from bccmt_tools.errors import BccmtError, warn
from bccmt_tools.io import expdir
from bccmt_tools.losses.aam import AAMSoftmax, MarginSchedule
from bccmt_tools.models import build_model
from bccmt_tools.train import allocator
from bccmt_tools.train import checkpoint as ckpt
from bccmt_tools.train import distributed, validation
from bccmt_tools.train.config import experiment_config, save_config
from bccmt_tools.train.data_checks import check_feature_records, check_speakers
from bccmt_tools.train.objective import TrainObjective
from bccmt_tools.train.optim import build_optimizer
from bccmt_tools.train.rng import capture_rng_state, restore_rng_state, seed_everything
from bccmt_tools.train.schedulers import build_scheduler
from bccmt_tools.train.teacher import Teacher
from bccmt_tools.train.training_log import EpochStats, TrainLog

# Keys that may change when resuming: they do not change the result.
# Settings that change speed or logging but not what is trained (beyond float rounding).
RESUMABLE_CHANGES = {("data", "num_workers"), ("trainer", "log_interval"), ("trainer", "keep_checkpoints"),
                     ("trainer", "compile"), ("kd", "fuse_teacher")}
# Sections that never change what is trained (validation only measures it).
RESUMABLE_SECTIONS = {"validation"}


def _resumable(path):
    return path in RESUMABLE_CHANGES or (len(path) > 0 and path[0] in RESUMABLE_SECTIONS)


def _added_since(saved, config, path):
    """True when the key ``path`` is absent from a checkpoint's ``saved`` config (a key added to
    DEFAULTS since that run) and ``config`` holds its default: the old run trained with it.

    >>> _added_since({"data": {"type": "raw"}}, {"data": {"type": "raw", "speed_perturb": []}},
    ...              ("data", "speed_perturb"))
    True
    >>> _added_since({"data": {}}, {"data": {"speed_perturb": [0.9, 1.0, 1.1]}}, ("data", "speed_perturb"))
    False
    """
    from bccmt_tools.train.config import DEFAULTS

    node, default, value = saved, DEFAULTS, config
    for key in path:
        if not isinstance(default, dict) or key not in default or not isinstance(value, dict):
            return False
        default, value = default[key], value.get(key)
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    return isinstance(node, dict) and path[-1] not in node and value == default


def _worker_init(_worker_id):
    torch.set_num_threads(1)  # workers only load and crop; leave the cores to the main process


def _config_differences(old, new, path=()):
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            found += _config_differences(old.get(key), new.get(key), path + (key,))
        return found
    return [] if old == new else [path]


def _loader_error(exc):
    """One clean line from an error re-raised by a DataLoader worker (which adds its traceback)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else str(exc)
    prefix = "bccmt_tools.errors.BccmtError: "
    return BccmtError(last[len(prefix):] if last.startswith(prefix) else last)


class Trainer:
    """Train the model of a resolved ``config`` on a data dir, writing into ``exp_dir``.

    ``teacher_dir`` enables distillation (``config['kd']``). ``stop_after`` ends this run after
    that many epochs (continue later with ``resume=True``), e.g. for time-limited cluster jobs.
    """

    def __init__(self, config, data_dir, exp_dir, teacher_dir=None, resume=False, device="cpu",
                 stop_after=None, show_progress=True):
        self.exp_dir = Path(exp_dir)
        self.data_dir = str(data_dir)
        self.stop_after = stop_after
        self.show_progress = show_progress
        device_type = torch.device(device).type
        if device_type == "cuda" and not torch.cuda.is_available():
            raise BccmtError("--device cuda: CUDA is not available on this machine")
        self.dist = distributed.init_distributed(device_type)
        self.device = distributed.device_for(device_type, self.dist)
        teacher_dir = teacher_dir or config["kd"].get("teacher")
        config = experiment_config(config, teacher_dir)
        check_feature_records(config, data_dir)
        self.resume_state = self._find_resume_state(config) if resume else None
        self.config = config
        trainer_conf = config["trainer"]
        self.seed = int(trainer_conf["seed"])
        seed_everything(self.seed)
        self.log = TrainLog(expdir.train_log_path(self.exp_dir), enabled=self.dist.is_main)
        self._build_data()
        self._build_model(teacher_dir)
        self.validator = validation.build_validator(config) if self.dist.is_main else None
        self.amp = bool(trainer_conf["amp"]) and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.cpu_amp = bool(trainer_conf["cpu_amp"]) and self.device.type == "cpu"  # bfloat16 needs no scaler
        self.start_epoch, self.step = 1, 0
        if self.resume_state is not None:
            self._restore(self.resume_state)
        if self.dist.is_main:
            save_config(self.config, expdir.config_path(self.exp_dir))

    # ----------------------------------------------------------------- setup
    def _find_resume_state(self, config):
        path = expdir.latest_checkpoint(self.exp_dir)
        if path is None:
            return None
        state = ckpt.load_checkpoint(path, map_location="cpu")
        saved = state["config"]
        changed = [p for p in _config_differences(saved, config)
                   if not _resumable(p) and not _added_since(saved, config, p)]
        if changed:
            names = ", ".join(".".join(map(str, p)) for p in changed)
            raise BccmtError(f"{path}: cannot resume: the config differs from the checkpoint's in {names} "
                             f"(start a new exp dir, or restore those settings)")
        state["path"] = path
        return state

    def _build_data(self):
        config = self.config
        spk2id = self.resume_state["spk2id"] if self.resume_state else None
        self.dataset = build_dataset(config, self.data_dir, spk2id=spk2id, seed=self.seed)
        few_utts = check_speakers(self.dataset.labels, f"{self.data_dir}/utt2spk")  # < 2 speakers: an error
        if few_utts and self.dist.is_main:
            warn(few_utts)
            self.log.write(f"WARNING: {few_utts}")
        data = config["data"]
        self.sampler = EpochSampler(self.dataset.labels, seed=self.seed, mode=data["sampler"],
                                    rank=self.dist.rank, world_size=self.dist.world_size)
        batch_size = int(data["batch_size"])
        self.steps_per_epoch = len(self.sampler) // batch_size if data["drop_last"] else \
            math.ceil(len(self.sampler) / batch_size)
        cap = int(config["trainer"]["max_steps_per_epoch"])
        if cap > 0:
            self.steps_per_epoch = min(self.steps_per_epoch, cap)
        if self.steps_per_epoch == 0:
            raise BccmtError(f"{self.data_dir}: {len(self.dataset)} utterances ({len(self.sampler)} per process) "
                             f"give no full batch of {batch_size}; lower data.batch_size")
        self.loader_generator = torch.Generator()
        workers = int(data["num_workers"])
        self.loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=batch_size, sampler=self.sampler, num_workers=workers,
            collate_fn=collate_crops, drop_last=bool(data["drop_last"]), pin_memory=self.device.type == "cuda",
            worker_init_fn=_worker_init if workers else None, generator=self.loader_generator,
            persistent_workers=False)

    def _build_model(self, teacher_dir):
        config = self.config
        model = build_model(config, "train config")
        loss = config["loss"]
        classifier = AAMSoftmax(model.embedding_dim, self.dataset.num_speakers, margin=loss["margin"],
                                scale=loss["scale"], easy_margin=loss["easy_margin"])
        self.teacher = None
        kd_config = None
        if teacher_dir:
            self.teacher = Teacher(teacher_dir, self.device, config["features"], self.dataset.spk2id,
                                   fuse=bool(config["kd"]["fuse_teacher"]), compile=bool(config["trainer"]["compile"]))
            kd_config = config["kd"]
            weights = kd_config["attention"]["weight"], kd_config["embedding"]["weight"], kd_config["logit"]["weight"]
            if not any(w > 0 for w in weights):
                raise BccmtError("--teacher given but every kd weight (kd.attention/embedding/logit.weight) is 0")
            if kd_config["logit"]["weight"] > 0 and self.teacher.classifier is None:
                raise BccmtError(f"kd.logit.weight > 0 but {self.teacher.classifier_problem}")
        margin = MarginSchedule(loss["margin"], **loss["margin_warmup"])
        teacher_dim = self.teacher.embedding_dim if self.teacher else None
        self.objective = TrainObjective(model, classifier, kd_config, teacher_dim, margin).to(self.device)
        self.model = model
        self.optimizer = build_optimizer(config["optim"], *self.objective.trainable_modules())
        self.scheduler = build_scheduler(self.optimizer, config["scheduler"], self.steps_per_epoch,
                                         config["trainer"]["epochs"])
        self.train_module = self.objective
        if self.dist.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_module = DistributedDataParallel(self.objective, device_ids=device_ids)
        if config["trainer"]["compile"]:
            # Parameters stay those of self.objective: checkpoints and validation use the uncompiled modules.
            self.train_module = torch.compile(self.train_module)
        self.log.write(f"model {config['model']}: {sum(p.numel() for p in model.parameters()):,} parameters; "
                       f"{self.dataset.num_speakers} speakers, {len(self.dataset)} utterances, "
                       f"{self.steps_per_epoch} steps/epoch, device {self.device}, world size {self.dist.world_size}"
                       + (f"; teacher {self.teacher.checkpoint_path}" if self.teacher else ""))

    # ------------------------------------------------------------ checkpoints
    def _state(self, epoch):
        return {
            **self.objective.checkpoint_state(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "step": self.step,
            "rng": capture_rng_state(),
            "spk2id": self.dataset.spk2id,
            "config": self.config,
        }

    def _restore(self, state):
        self.objective.load_checkpoint_state(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        self.start_epoch, self.step = int(state["epoch"]) + 1, int(state["step"])
        self.log.write(f"resumed from {state['path']} (epoch {state['epoch']}, step {self.step})")

    def _save(self, epoch):
        if not self.dist.is_main:
            return
        path = ckpt.save_checkpoint(self._state(epoch), expdir.checkpoint_path(self.exp_dir, epoch))
        ckpt.prune_checkpoints(self.exp_dir, int(self.config["trainer"]["keep_checkpoints"]))
        return path

    # ----------------------------------------------------------------- loop
    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        if self.cpu_amp:
            return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _train_step(self, batch, progress):
        feats = batch["feats"].to(self.device, non_blocking=True)
        lengths = batch["lengths"].to(self.device, non_blocking=True)
        labels = batch["labels"].to(self.device, non_blocking=True)
        self.objective.start_step(progress)
        teacher_outputs = None
        with self._autocast():
            if self.teacher is not None:
                teacher_outputs = self.teacher(feats, lengths, **self.objective.teacher_request)
            loss, terms, logits = self.train_module(feats, lengths, labels, progress, teacher_outputs)
        finite = bool(torch.isfinite(loss))
        if self.dist.enabled:
            finite = not distributed.any_rank(not finite, self.device)
        if not finite:
            values = ", ".join(f"{k} {float(v):.4g}" for k, v in terms.items())
            last = expdir.latest_checkpoint(self.exp_dir)
            raise BccmtError(f"non-finite loss at step {self.step + 1} ({values}); stopping. The last good "
                             f"checkpoint is {last or 'none (no epoch finished)'}; lower optim.lr or enable "
                             f"grad clipping, then --resume")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        clip = float(self.config["trainer"]["grad_clip"])
        if clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        correct = int((logits.argmax(dim=-1) == labels).sum())
        return terms, correct, labels.numel()

    def _run_epoch(self, epoch):
        self.train_module.train()
        self.sampler.set_epoch(epoch)
        self.loader_generator.manual_seed(self.seed * 1000003 + epoch)
        stats = EpochStats()
        bar = tqdm(total=self.steps_per_epoch, desc=f"epoch {epoch}", file=sys.stderr, leave=False,
                   disable=not (self.show_progress and self.dist.is_main and sys.stderr.isatty()), dynamic_ncols=True)
        started = time.monotonic()
        try:
            for index, batch in enumerate(self.loader):
                if index >= self.steps_per_epoch:
                    break
                progress = (epoch - 1) + index / self.steps_per_epoch
                terms, correct, count = self._train_step(batch, progress)
                stats.add(terms, correct, count)
                bar.update(1)
                bar.set_postfix(loss=f"{float(terms['loss']):.3f}", acc=f"{correct / count:.3f}",
                                lr=f"{self.optimizer.param_groups[0]['lr']:.2e}")
                interval = int(self.config["trainer"]["log_interval"])
                if interval > 0 and self.step % interval == 0:
                    self.log.write(f"epoch {epoch} step {index + 1}/{self.steps_per_epoch} " + stats.running_text())
        except BccmtError as exc:
            if "Traceback" in exc.message:  # re-raised from a DataLoader worker
                raise _loader_error(exc) from None
            raise
        finally:
            bar.close()
        elapsed = time.monotonic() - started
        summary = stats.reduce(self.device)
        summary.update(lr=self.optimizer.param_groups[0]["lr"], margin=self.objective.margin,
                       samples_per_s=summary["samples"] / max(elapsed, 1e-9), seconds=elapsed)
        return summary

    def run(self):
        """Train from ``start_epoch`` to ``trainer.epochs``; returns the list of epoch summaries."""
        epochs = int(self.config["trainer"]["epochs"])
        summaries = []
        if self.device.type == "cpu":  # large tensors reuse freed memory: same numbers, less time in the kernel
            allocator.retain_freed_memory()
        try:
            for epoch in range(self.start_epoch, epochs + 1):
                summary = self._run_epoch(epoch)
                distributed.broadcast_buffers(self.objective)
                path = self._save(epoch)
                if self.validator is not None and validation.due(self.config, epoch):
                    summary.update(self.validator(self.objective.model, self.device))
                summaries.append(summary)
                self.log.epoch(epoch, epochs, summary, path)
                allocator.release_free_memory()  # what validation's odd sizes left free in the heap goes back
                if self.stop_after is not None and len(summaries) >= self.stop_after and epoch < epochs:
                    self.log.write(f"stopping after {len(summaries)} epoch(s) as asked; continue with --resume")
                    break
            distributed.barrier()
        finally:
            self.log.close()
        return summaries
