"""Epoch samplers yielding ``(index, seed)``: plain shuffling or speaker-balanced draws, DDP-aware.

Each epoch's order comes from ``(seed, epoch)`` only, and every item gets its own seed derived
from ``(seed, epoch, position)``; under DDP each rank takes every ``world_size``-th position of
the same global list (padded to a multiple of ``world_size``).

>>> sampler = EpochSampler([0, 0, 1, 1], seed=3)
>>> sampler.set_epoch(1)
>>> sorted(index for index, _ in sampler)
[0, 1, 2, 3]
"""

import numpy as np

from bccmt_tools.data.seeds import sample_seed


class EpochSampler:
    """Sampler over a dataset with per-utterance speaker ``labels``.

    ``mode="plain"``: a permutation of all utterances per epoch. ``mode="speaker_balanced"``:
    as many draws as utterances, each a speaker drawn uniformly and then one of its
    utterances (cycling through a shuffled list), so small speakers are not under-trained.
    """

    def __init__(self, labels, seed=0, mode="plain", rank=0, world_size=1):
        if mode not in ("plain", "speaker_balanced"):
            raise ValueError(f"unknown sampler mode {mode!r}")
        self.labels = np.asarray(labels)
        self.seed = int(seed)
        self.mode = mode
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.epoch = 0
        self.total = -(-len(self.labels) // self.world_size) * self.world_size

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def global_order(self):
        """All positions of this epoch (every rank's share), padded to a multiple of world_size."""
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.mode == "plain":
            order = rng.permutation(len(self.labels))
        else:
            order = self._speaker_balanced(rng)
        if len(order) < self.total:
            order = np.concatenate([order, order[: self.total - len(order)]])
        return order

    def _speaker_balanced(self, rng):
        speakers = np.unique(self.labels)
        pools = {spk: list(rng.permutation(np.flatnonzero(self.labels == spk))) for spk in speakers}
        cursors = {spk: 0 for spk in speakers}
        order = []
        for spk in rng.choice(speakers, size=len(self.labels)):
            pool = pools[spk]
            order.append(pool[cursors[spk] % len(pool)])
            cursors[spk] += 1
        return np.asarray(order, dtype=np.int64)

    def __iter__(self):
        order = self.global_order()
        for position in range(self.rank, self.total, self.world_size):
            yield int(order[position]), sample_seed(self.seed, self.epoch, position)

    def __len__(self):
        return self.total // self.world_size
