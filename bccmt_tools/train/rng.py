"""Seeding and RNG state capture/restore (python, numpy, torch, CUDA) for exact resume."""

import random

import numpy as np
import torch


def seed_everything(seed):
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def capture_rng_state():
    """All global RNG states, for a checkpoint, as tensors and plain values only (checkpoints are
    loaded with ``torch.load(weights_only=True)``, which refuses numpy arrays and other objects).

    >>> state = capture_rng_state()
    >>> sorted(state["numpy"]), type(state["python"][1]).__name__
    (['bit_generator', 'cached_gaussian', 'has_gauss', 'key', 'pos'], 'list')
    """
    version, internal, gauss = random.getstate()
    name, key, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": [int(version), [int(value) for value in internal], gauss],
        "numpy": {"bit_generator": str(name), "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state):
    """Restore the states saved by ``capture_rng_state`` (or by earlier versions, which stored
    numpy's state tuple as it is)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(value) for value in internal), gauss))
    saved = state["numpy"]
    if isinstance(saved, dict):
        key = saved["key"].numpy() if torch.is_tensor(saved["key"]) else np.asarray(saved["key"])
        saved = (saved["bit_generator"], key.astype(np.uint32), saved["pos"], saved["has_gauss"],
                 saved["cached_gaussian"])
    np.random.set_state(saved)
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
