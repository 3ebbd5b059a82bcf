"""Export an embedding model to TorchScript or ONNX with dynamic batch and length, and check that
the exported model matches PyTorch.

>>> report = export_model(model, "exp/tiny/model.onnx", "onnx")     # doctest: +SKIP
>>> report["max_abs_diff"] < 1e-4                                   # doctest: +SKIP
True
"""

import contextlib
import os
import warnings
from pathlib import Path
from typing import Callable, Dict, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import temp_name_for
from bccmt_tools.models.fuse import fuse_for_inference

FORMATS = ("torchscript", "onnx")
# (batch, frames) pairs checked after export; lengths within a batch differ, so padding is exercised.
PARITY_SHAPES: Sequence[Tuple[int, int]] = ((1, 37), (1, 150), (3, 64), (2, 401), (1, 1000))
DEFAULT_TOLERANCE = 1e-4


def write_torchscript(model: nn.Module, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated but still the portable format
        torch.jit.save(torch.jit.script(model), str(path))


def write_onnx(model: nn.Module, path, opset: int = 17) -> None:
    """ONNX via the TorchScript-based exporter with dynamic batch and frame axes."""
    n_mels = getattr(getattr(model, "config", None), "n_mels", 80)
    example = (torch.randn(2, 50, n_mels), torch.tensor([50, 41]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, example, str(path), dynamo=False, opset_version=opset,
            input_names=["feats", "lengths"], output_names=["embeddings"],
            dynamic_axes={"feats": {0: "batch", 1: "frames"}, "lengths": {0: "batch"}, "embeddings": {0: "batch"}},
        )


def torchscript_runner(path) -> Callable:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.load(str(path), map_location="cpu").eval()

    def run(feats, lengths):
        with torch.no_grad():
            return scripted(feats, lengths).numpy()
    return run


def onnx_runner(path) -> Callable:
    try:
        import onnxruntime
    except ImportError:
        raise BccmtError("onnxruntime is not installed (needed for the ONNX parity check): "
                         "pip install 'bccmt-tools[onnx]'") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda feats, lengths: session.run(None, {"feats": feats.numpy(), "lengths": lengths.numpy()})[0]


def parity(model: nn.Module, run: Callable, shapes=PARITY_SHAPES, seed: int = 0) -> Dict[str, float]:
    """Max abs difference between ``model`` and an exported ``run`` on random padded batches."""
    generator = torch.Generator().manual_seed(seed)
    n_mels = getattr(getattr(model, "config", None), "n_mels", 80)
    worst = 0.0
    per_shape = {}
    for batch, frames in shapes:
        feats = torch.randn(batch, frames, n_mels, generator=generator)
        lengths = torch.randint(max(1, frames // 2), frames + 1, (batch,), generator=generator)
        lengths[0] = frames
        with torch.no_grad():
            expected = model(feats, lengths).numpy()
        diff = float(np.abs(run(feats, lengths) - expected).max())
        per_shape[f"{batch}x{frames}"] = diff
        worst = max(worst, diff)
    return {"max_abs_diff": worst, "per_shape": per_shape}


def export_model(model: nn.Module, out_path, fmt: str, opset: int = 17, fuse: bool = True,
                 tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Export ``model`` to ``out_path`` and check parity against the (unfused) eager model.

    The file is written under a temporary name and renamed only when the parity check passes;
    beyond ``tolerance`` a BccmtError is raised and no file is left behind.
    """
    if fmt not in FORMATS:
        raise BccmtError(f"format '{fmt}' is not one of {list(FORMATS)}")
    model = model.cpu().eval()
    exported = fuse_for_inference(model) if fuse else model
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name_for(out_path)
    try:
        if fmt == "torchscript":
            write_torchscript(exported, tmp)
            result = parity(model, torchscript_runner(tmp))
        else:
            write_onnx(exported, tmp, opset)
            result = parity(model, onnx_runner(tmp))
        if not result["max_abs_diff"] <= tolerance:
            raise BccmtError(f"{out_path}: parity check failed: max abs difference {result['max_abs_diff']:.3g} "
                             f"> {tolerance:g} ({result['per_shape']})")
        os.replace(tmp, out_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    result.update(path=str(out_path), format=fmt, fused=fuse)
    return result
