"""Epoch statistics (every loss term separately, accuracy, LR, throughput) and the train.log file."""

import time
from pathlib import Path

from bccmt_tools.train import distributed

# Order of terms in log lines; weights ("w_*") are averaged like the terms.
TERM_ORDER = ("loss", "aam", "kd_attention", "kd_embedding", "kd_logit", "w_attention")


class EpochStats:
    """Sample-weighted running sums of loss terms and correct predictions."""

    def __init__(self):
        self.sums = {}
        self.correct = 0
        self.samples = 0

    def add(self, terms, correct, count):
        for name, value in terms.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value) * count
        self.correct += correct
        self.samples += count

    def _ordered(self, sums, samples):
        names = [n for n in TERM_ORDER if n in sums] + sorted(n for n in sums if n not in TERM_ORDER)
        return {name: sums[name] / max(samples, 1) for name in names}

    def running_text(self):
        means = self._ordered(self.sums, self.samples)
        return " ".join(f"{name} {value:.4f}" for name, value in means.items()) + \
            f" acc {self.correct / max(self.samples, 1):.4f}"

    def reduce(self, device):
        """Means over all processes: term means, ``acc`` and total ``samples``."""
        names = sorted(self.sums)
        values = distributed.all_reduce_sum([self.sums[n] for n in names] + [self.correct, self.samples], device)
        samples = values[-1]
        summary = self._ordered(dict(zip(names, values[:-2])), samples)
        summary["acc"] = values[-2] / max(samples, 1)
        summary["samples"] = samples
        return summary


class TrainLog:
    """Append timestamped lines to ``exp/log/train.log`` (only on the main process)."""

    def __init__(self, path, enabled=True):
        self.enabled = enabled
        self.handle = None
        if enabled:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(path, "a", encoding="utf-8")

    def write(self, line):
        if self.handle is None:
            return
        self.handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        self.handle.flush()

    def epoch(self, epoch, epochs, summary, checkpoint_path):
        skip = {"acc", "samples", "lr", "margin", "samples_per_s", "seconds"}
        terms = " ".join(f"{name} {value:.4f}" for name, value in summary.items() if name not in skip)
        line = (f"epoch {epoch}/{epochs} {terms} acc {summary['acc']:.4f} lr {summary['lr']:.3e} "
                f"margin {summary['margin']:.3f} samples/s {summary['samples_per_s']:.1f} "
                f"time {summary['seconds']:.1f}s checkpoint {checkpoint_path}")
        self.write(line)
        if self.enabled:
            import sys

            print(line, file=sys.stderr, flush=True)

    def close(self):
        if self.handle is not None:
            self.handle.close()
            self.handle = None
