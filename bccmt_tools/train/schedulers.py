"""Learning-rate schedules that step once per iteration: linear warm-up, then cosine/exponential.

>>> import torch
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
>>> sched = WarmupScheduler(opt, "cosine", total_steps=10, warmup_steps=2, min_lr=0.0)
>>> lrs = []
>>> for _ in range(10):
...     lrs.append(round(opt.param_groups[0]["lr"], 3)); sched.step()
>>> lrs[:4], lrs[-1]
([0.0, 0.5, 1.0, 0.962], 0.038)
"""

import math


class WarmupScheduler:
    """Per-iteration LR: ``warmup_steps`` linear from ``start_factor * lr`` to ``lr``, then decay.

    ``kind``: ``cosine`` (half cosine to ``min_lr`` at ``total_steps``), ``exponential``
    (geometric decay reaching ``min_lr`` at ``total_steps``) or ``constant``. Each parameter
    group decays from its own initial ``lr``. ``state_dict``/``load_state_dict`` keep the step
    so that a resumed run follows the same curve.
    """

    def __init__(self, optimizer, kind, total_steps, warmup_steps=0, min_lr=0.0, start_factor=0.0):
        if kind not in ("cosine", "exponential", "constant"):
            raise ValueError(f"unknown schedule {kind!r}")
        self.optimizer = optimizer
        self.kind = kind
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.min_lr = float(min_lr)
        self.start_factor = float(start_factor)
        self.base_lrs = [group.setdefault("initial_lr", group["lr"]) for group in optimizer.param_groups]
        self.step_count = 0
        self._apply()

    def factor_lr(self, base_lr, step):
        """LR of a group with initial ``base_lr`` at iteration ``step``."""
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return base_lr * (self.start_factor + (1.0 - self.start_factor) * fraction)
        if self.kind == "constant":
            return base_lr
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / decay_steps, 1.0)
        floor = min(self.min_lr, base_lr)
        if self.kind == "cosine":
            return floor + 0.5 * (base_lr - floor) * (1.0 + math.cos(math.pi * progress))
        return base_lr * (max(floor, 1e-12) / base_lr) ** progress

    def _apply(self):
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.factor_lr(base_lr, self.step_count)

    def step(self):
        self.step_count += 1
        self._apply()

    def get_last_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        return {"step_count": self.step_count, "base_lrs": list(self.base_lrs), "kind": self.kind,
                "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}

    def load_state_dict(self, state):
        self.step_count = int(state["step_count"])
        self.base_lrs = list(state["base_lrs"])
        self._apply()


def build_scheduler(optimizer, config, steps_per_epoch, epochs):
    """Scheduler from the ``scheduler`` config section, with warm-up given in epochs."""
    return WarmupScheduler(
        optimizer,
        config["name"],
        total_steps=steps_per_epoch * epochs,
        warmup_steps=round(float(config["warmup_epochs"]) * steps_per_epoch),
        min_lr=config["min_lr"],
        start_factor=config["warmup_start_factor"],
    )
