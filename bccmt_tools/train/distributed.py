"""Distributed setup under ``torchrun``: process group (gloo on CPU, nccl on GPU), rank helpers."""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0


def launched_by_torchrun():
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device_type):
    """Initialise the process group when launched by torchrun; returns DistInfo (world 1 otherwise)."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"]))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def device_for(requested, info):
    """The torch.device of this process: ``cuda:<local_rank>`` under torchrun on GPU."""
    if requested == "cuda":
        return torch.device(f"cuda:{info.local_rank}" if info.enabled else "cuda")
    return torch.device(requested)


def all_reduce_sum(values, device):
    """Sum a list of floats over processes (identity without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def any_rank(flag, device):
    """True if ``flag`` is true on any process (used to stop all ranks together)."""
    return all_reduce_sum([1.0 if flag else 0.0], device)[0] > 0


def broadcast_buffers(module, src=0):
    """Copy rank ``src``'s buffers (BatchNorm statistics) to every process.

    DDP syncs buffers at the start of each forward, so after the last step of an epoch each rank
    holds its own statistics; this makes every rank equal to the checkpoint rank 0 saves.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src)


def barrier():
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup():
    """Destroy the process group (end of training, also on error); nothing without one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
