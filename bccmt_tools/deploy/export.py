"""Export an embedding model to TorchScript or ONNX with dynamic batch and length, and check that
the exported model matches PyTorch.

The file also carries what deployment needs besides the weights (:func:`deployment_metadata`):
the features config (fbank options + ``cmn``), the embedding size and the model name, as ONNX
``metadata_props`` or as the TorchScript extra file ``bccmt.json``, so ``bccmt verify --onnx``
needs neither torch nor the experiment directory.

>>> metadata = deployment_metadata(config, model)                   # doctest: +SKIP
>>> report = export_model(model, "exp/tiny/model.onnx", "onnx", metadata=metadata)  # doctest: +SKIP
>>> report["max_abs_diff"] < 1e-4                                   # doctest: +SKIP
True

ONNX files are written through :func:`bccmt_tools.deploy.export_rewrite.onnx_friendly` (same
function, a faster graph for ONNX Runtime). :func:`export_int8` adds static int8 quantisation
(:mod:`bccmt_tools.deploy.quantize`), checked by EER on a labelled trial list instead of parity.
"""

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.frontend import features_from_metadata, model_metadata
from bccmt_tools.features.settings import parse_features
from bccmt_tools.io.atomic import temp_name_for
from bccmt_tools.models.fuse import fuse_for_inference

FORMATS = ("torchscript", "onnx")
# (batch, frames) pairs checked after export; lengths within a batch differ, so padding is exercised.
PARITY_SHAPES: Sequence[Tuple[int, int]] = ((1, 37), (1, 150), (3, 64), (2, 401), (1, 1000), (1, 1), (2, 9), (1, 251))
DEFAULT_TOLERANCE = 1e-4
TORCHSCRIPT_METADATA_FILE = "bccmt.json"


def deployment_metadata(config: dict, model: nn.Module, where: str = "config.yaml") -> Dict[str, str]:
    """String metadata for an exported model, from an experiment config and its model.

    Keys are :data:`bccmt_tools.features.frontend.METADATA_KEYS`: ``features`` is the JSON of the
    full fbank options plus ``cmn`` (defaults filled in, so later default changes cannot alter
    it), ``embedding_dim`` the output size, ``model`` the registry name.
    """
    fbank, cmn = parse_features(config.get("features"), where)
    return model_metadata(fbank, cmn, model.embedding_dim, config.get("model", ""))


def write_torchscript(model: nn.Module, path, metadata: Optional[Dict[str, str]] = None) -> None:
    extra_files = {TORCHSCRIPT_METADATA_FILE: json.dumps(metadata, sort_keys=True)} if metadata else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated but still the portable format
        torch.jit.save(torch.jit.script(model), str(path), _extra_files=extra_files)


def read_torchscript_metadata(path) -> Dict[str, str]:
    """The metadata dict stored by :func:`write_torchscript` (empty when there is none)."""
    extra_files = {TORCHSCRIPT_METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra_files)
    text = extra_files[TORCHSCRIPT_METADATA_FILE]
    return json.loads(text) if text else {}


def add_onnx_metadata(path, metadata: Dict[str, str]) -> None:
    """Store ``metadata`` in the ONNX file's ``metadata_props`` (replacing keys already there)."""
    import onnx

    model = onnx.load(str(path))
    kept = [prop for prop in model.metadata_props if prop.key not in metadata]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def write_onnx(model: nn.Module, path, opset: int = 17, metadata: Optional[Dict[str, str]] = None,
               rewrite: bool = True) -> None:
    """ONNX via the TorchScript-based exporter with dynamic batch and frame axes; ``rewrite``
    exports :func:`~bccmt_tools.deploy.export_rewrite.onnx_friendly` (a copy; same function),
    makes the reshapes static and folds constants (:mod:`~bccmt_tools.deploy.export_rewrite`)."""
    from bccmt_tools.deploy.export_rewrite import fold_constants, onnx_friendly, static_reshapes

    if rewrite:
        model = onnx_friendly(model)
    n_mels = getattr(getattr(model, "config", None), "n_mels", 80)
    example = (torch.randn(2, 50, n_mels), torch.tensor([50, 41]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, example, str(path), dynamo=False, opset_version=opset,
            input_names=["feats", "lengths"], output_names=["embeddings"],
            dynamic_axes={"feats": {0: "batch", 1: "frames"}, "lengths": {0: "batch"}, "embeddings": {0: "batch"}},
        )
    if rewrite:
        static_reshapes(path)
        fold_constants(path)
    if metadata:
        add_onnx_metadata(path, metadata)


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
                 tolerance: float = DEFAULT_TOLERANCE, metadata: Optional[Dict[str, str]] = None) -> dict:
    """Export ``model`` to ``out_path`` and check parity against the (unfused) eager model.

    ``metadata`` (see :func:`deployment_metadata`) is stored in the file.

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
            write_torchscript(exported, tmp, metadata)
            result = parity(model, torchscript_runner(tmp))
        else:
            write_onnx(exported, tmp, opset, metadata)
            result = parity(model, onnx_runner(tmp))
        if not result["max_abs_diff"] <= tolerance:
            raise BccmtError(f"{out_path}: parity check failed: max abs difference {result['max_abs_diff']:.3g} "
                             f"> {tolerance:g} ({result['per_shape']})")
        os.replace(tmp, out_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    result.update(path=str(out_path), format=fmt, fused=fuse, metadata=dict(metadata or {}))
    return result


def export_int8(model: nn.Module, out_path, metadata: Dict[str, str], calibration_dir, trials=None,
                check_data=None, calibration_utterances: Optional[int] = None, per_channel: bool = True,
                method: Optional[str] = None, keep_float: Sequence[str] = (), max_eer_increase: Optional[float] = None,
                force: bool = False, opset: int = 17, tolerance: float = DEFAULT_TOLERANCE,
                progress: Callable[[str], None] = lambda message: None) -> dict:
    """Export ``model`` to ONNX (parity-checked), quantise it to static int8 calibrated on
    ``calibration_dir`` and, with ``trials`` over ``check_data``, measure EER and minDCF before
    and after. The int8 file is written to ``out_path`` (atomically) only when its EER is within
    ``max_eer_increase`` (relative) of the float model's, or with ``force``; the measures go into
    its metadata (key ``bccmt.quantization``). Returns the report (``float``/``int8`` accuracy,
    ``gate``, quantisation details, fp32 ``parity``)."""
    from bccmt_tools.deploy import quantize

    calibration_utterances = calibration_utterances or quantize.DEFAULT_CALIBRATION_UTTERANCES
    method = method or quantize.DEFAULT_CALIBRATION_METHOD
    max_eer_increase = quantize.DEFAULT_MAX_EER_INCREASE if max_eer_increase is None else max_eer_increase
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bccmt-int8-"))
    try:
        float_path = workdir / "float.onnx"
        parity_report = export_model(model, float_path, "onnx", opset=opset, tolerance=tolerance, metadata=metadata)
        progress(f"float model: parity max abs diff {parity_report['max_abs_diff']:.3g}")
        settings = features_from_metadata(metadata or {}, str(out_path))
        if settings is None:
            raise BccmtError(f"{out_path}: the export metadata states no features (see deployment_metadata)")
        fbank, cmn = settings
        calibration = [feats for _key, feats in
                       quantize.data_features(calibration_dir, fbank, cmn, limit=calibration_utterances)]
        progress(f"calibrating on {len(calibration)} utterances of {calibration_dir} ({method})")
        int8_path = workdir / "int8.onnx"
        report = quantize.quantize_onnx(float_path, int8_path, calibration, per_channel, method, keep_float)
        report["calibration_data"] = str(calibration_dir)
        accuracy = None
        if trials is not None:
            from bccmt_tools.io.trials import read_trials

            features = quantize.trial_features_for(fbank, cmn, read_trials(trials), check_data)
            progress(f"accuracy check: {trials} over {check_data}")
            before = quantize.trial_accuracy(float_path, trials, check_data, features)
            after = quantize.trial_accuracy(int8_path, trials, check_data, features)
            gate = quantize.accuracy_gate(before, after, max_eer_increase)
            accuracy = {"trials": str(trials), "data": str(check_data), "float": before, "int8": after,
                        "eer_relative_change": gate["eer_relative_change"], "max_eer_increase": max_eer_increase,
                        "passed": gate["passed"], "forced": bool(force and not gate["passed"])}
            if not gate["passed"] and not force:
                raise BccmtError(
                    f"{out_path}: not written: int8 EER {100 * after['eer']:.2f}% vs float {100 * before['eer']:.2f}% "
                    f"on {trials} ({100 * gate['eer_relative_change']:+.1f}% relative, more than the allowed "
                    f"{100 * max_eer_increase:g}%); keep more layers in float (--keep-float), calibrate on other "
                    "data, or write it anyway with --force")
        add_onnx_metadata(int8_path, {quantize.QUANTIZATION_METADATA_KEY: quantize.quantization_metadata(report, accuracy)})
        tmp = temp_name_for(out_path)
        try:
            shutil.copyfile(int8_path, tmp)
            os.replace(tmp, out_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report.update(path=str(out_path), accuracy=accuracy, parity=parity_report, metadata=dict(metadata or {}))
    return report
