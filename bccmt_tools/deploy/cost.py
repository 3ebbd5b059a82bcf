"""Cost of an embedding model: parameters, multiply-accumulates and batch-1 latency.

MACs are counted with ``torch.utils.flop_counter.FlopCounterMode``, which sees convolutions,
linear layers and the attention matmuls (it reports FLOPs = 2 x MACs). The attention matrix
products (Q K^T and A V, batched matmuls: the only ones in these models) are also reported on
their own, since some counters (and some papers) leave them out. Input lengths are the fbank frame
counts of Kaldi features (25 ms window, 10 ms shift, 16 kHz, snip edges).

>>> frames_for_seconds(1.0)
98
"""

import statistics
import time
from typing import Callable, Dict, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def frames_for_seconds(seconds: float, sample_rate: int = 16000, window_ms: float = 25.0,
                       shift_ms: float = 10.0) -> int:
    """Number of fbank frames of a ``seconds`` long signal."""
    samples = int(round(seconds * sample_rate))
    window = int(sample_rate * window_ms / 1000)
    shift = int(sample_rate * shift_ms / 1000)
    return max(1, 1 + (samples - window) // shift)


def count_parameters(model: nn.Module) -> int:
    """Parameters of the embedding model (the classifier is not part of it)."""
    return sum(p.numel() for p in model.parameters())


def example_input(model: nn.Module, num_frames: int, batch: int = 1, device="cpu"):
    n_mels = getattr(getattr(model, "config", None), "n_mels", 80)
    feats = torch.randn(batch, num_frames, n_mels, device=device)
    return feats, torch.full((batch,), num_frames, dtype=torch.long, device=device)


#: Batched matrix products: in these models, the attention's Q K^T and A V (projections are convolutions).
MATMUL_OPS = ("aten.bmm", "aten.baddbmm")


def count_macs_split(model: nn.Module, seconds: float) -> Dict[str, int]:
    """``{"macs": all, "attention_matmul_macs": the attention matrix products' share}`` of one forward
    pass at batch 1 for a ``seconds`` long signal."""
    feats, lengths = example_input(model, frames_for_seconds(seconds))
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(feats, lengths)
    model.train(was_training)
    per_op = counter.get_flop_counts().get("Global", {})
    matmul = sum(flops for op, flops in per_op.items() if str(op).split(".default")[0] in MATMUL_OPS)
    return {"macs": counter.get_total_flops() // 2, "attention_matmul_macs": matmul // 2}


def count_macs(model: nn.Module, seconds: float) -> int:
    """Multiply-accumulates of one forward pass at batch 1 for a ``seconds`` long signal."""
    return count_macs_split(model, seconds)["macs"]


def time_calls(call: Callable[[], object], runs: int, warmup: int, synchronize: Callable[[], None]) -> Dict[str, float]:
    """Median and 10th/90th percentile wall time of ``call`` in milliseconds."""
    for _ in range(warmup):
        call()
    synchronize()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        synchronize()
        times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    return {"median_ms": statistics.median(times), "p10_ms": times[int(0.1 * (len(times) - 1))],
            "p90_ms": times[int(round(0.9 * (len(times) - 1)))], "runs": runs}


def measure_latency(model: nn.Module, seconds: float, device: str = "cpu", runs: int = 20,
                    warmup: int = 3) -> Dict[str, float]:
    """Batch-1 eager latency of ``model`` (already on ``device``, eval mode)."""
    feats, lengths = example_input(model, frames_for_seconds(seconds), device=device)
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        return time_calls(lambda: model(feats, lengths), runs, warmup, sync)


def onnx_session(path, threads: int):
    """An onnxruntime CPU session for ``path`` (onnxruntime is an optional extra)."""
    try:
        import onnxruntime
    except ImportError:
        from bccmt_tools.errors import BccmtError
        raise BccmtError("onnxruntime is not installed: pip install 'bccmt-tools[onnx]'") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure_onnx_latency(session, seconds: float, n_mels: int = 80, runs: int = 20, warmup: int = 3) -> Dict[str, float]:
    """Batch-1 latency of an onnxruntime session with inputs ``feats`` and ``lengths``."""
    num_frames = frames_for_seconds(seconds)
    inputs = {"feats": torch.randn(1, num_frames, n_mels).numpy(),
              "lengths": torch.tensor([num_frames], dtype=torch.long).numpy()}
    return time_calls(lambda: session.run(None, inputs), runs, warmup, lambda: None)


def profile_model(model: nn.Module, seconds: Sequence[float], device: str = "cpu", runs: int = 20,
                  warmup: int = 3, latency: bool = True) -> dict:
    """Parameters, and per length: frames, MACs (all, and the attention matrix products' share)
    and (optionally) latency."""
    report = {"parameters": count_parameters(model), "lengths": []}
    for value in seconds:
        row = {"seconds": value, "frames": frames_for_seconds(value), **count_macs_split(model, value)}
        if latency:
            row["latency"] = measure_latency(model.to(device), value, device, runs, warmup)
        report["lengths"].append(row)
    return report
