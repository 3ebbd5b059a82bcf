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
    """All global RNG states, for a checkpoint."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state):
    """Restore the states saved by ``capture_rng_state``."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])


def sample_seed(base_seed, epoch, position):
    """A per-sample seed from (run seed, epoch, position): independent of workers and resume."""
    return int(np.random.SeedSequence([int(base_seed), int(epoch), int(position)]).generate_state(1)[0])
