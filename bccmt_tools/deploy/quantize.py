"""Static int8 quantisation (QDQ) of an exported ONNX embedding model, checked by accuracy.

ONNX Runtime's static quantiser (``onnxruntime.quantization.quantize_static``) inserts
QuantizeLinear/DequantizeLinear pairs around the chosen nodes, with activation ranges calibrated
on real features (a few hundred utterances of a data dir, through the model's own fbank config
and CMN) and per-channel int8 weights. Only the convolutions and the final linear layer are
quantised (:data:`QUANTIZED_OP_TYPES`); :func:`float_nodes` says what stays in float and why:

* every softmax, and the attention logits that feed them (the ``q k^T`` products, and the
  convolutions computing the pooling's attention logits): softmax magnifies logit rounding;
* depthwise and grouped convolutions: their per-tensor uint8 outputs lose the channels and
  sub-bands whose ranges differ most (BC-CMT's sub-spectral norms rescale them right after;
  measured: embeddings at cosine 0.92 to float with them quantised, 0.98 without), and being
  memory-bound they gain nothing from int8 arithmetic;
* the relative position bias path (gather / tile / slice / add of the learned table): integer
  indices and a table added to the logits;
* the batch normalisations left after folding, GELU, the residual sums, the frequency means and
  the masks: element-wise work that int8 would only wrap in more quantise/dequantise steps;
* convolutions listed in ``keep_float`` (default: none).

Since rounding changes the model, parity with PyTorch is no check for it: :func:`trial_accuracy`
measures EER and minDCF(0.01) on a labelled trial list for the float model and the int8 model
alike (same audio, same numpy fbank, same cosine scoring), and :func:`accuracy_gate` refuses an
EER that rises by more than ``max_increase`` (relative).

>>> accuracy_gate({"eer": 0.050}, {"eer": 0.0514}, 0.03)["passed"]
True
>>> accuracy_gate({"eer": 0.050}, {"eer": 0.052}, 0.03)["passed"]
False
"""

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bccmt_tools.errors import BccmtError

QUANTIZED_OP_TYPES = ("Conv", "Gemm")
DEFAULT_CALIBRATION_UTTERANCES = 300
DEFAULT_MAX_EER_INCREASE = 0.03  # relative
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
DEFAULT_CALIBRATION_METHOD = "minmax"  # measured best once depthwise convs stay float
QUANTIZATION_METADATA_KEY = "bccmt.quantization"
ACCURACY_P_TARGET = 0.01


def _onnx_quantization():
    try:
        import onnx  # noqa: F401
        from onnxruntime import quantization
    except ImportError:
        raise BccmtError("int8 export needs onnx and onnxruntime: pip install 'bccmt-tools[onnx]'") from None
    return quantization


# ---------------------------------------------------------------------------------------------
# Data: utterances of a Kaldi data dir as model-ready features


def data_entries(data_dir, keys=None, limit=None):
    """``(kind, [(key, value), ...])`` of a data dir: ``wav.scp`` entries (kind ``wav``) when it
    has one, else ``feats.scp`` (``feats``). With ``keys`` only those (all must be present);
    with ``limit`` at most that many, evenly spaced over the list (so every part of a sorted
    list, i.e. many speakers, is represented).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "wav.scp").write_text("".join(f"u{i} /x/u{i}.wav\\n" for i in range(10)))
    >>> data_entries(d, limit=3)
    ('wav', [('u0', '/x/u0.wav'), ('u3', '/x/u3.wav'), ('u6', '/x/u6.wav')])
    """
    from bccmt_tools.io.kaldi_table import read_scp_lines

    data_dir = Path(data_dir)
    for kind, name in (("wav", "wav.scp"), ("feats", "feats.scp")):
        path = data_dir / name
        if path.is_file():
            break
    else:
        raise BccmtError(f"{data_dir}: no wav.scp or feats.scp (is it a Kaldi data dir?)")
    entries = [(key, value) for key, value, _number in read_scp_lines(str(path))]
    if not entries:
        raise BccmtError(f"{path}: empty")
    if keys is not None:
        index = dict(entries)
        missing = [key for key in keys if key not in index]
        if missing:
            raise BccmtError(f"{path}: key {missing[0]!r}: in the trial list but not in the data dir "
                             f"({len(missing)} missing); give the data dir the trials were made from")
        entries = [(key, index[key]) for key in keys]
    if limit is not None and len(entries) > limit:
        step = len(entries) / limit
        entries = [entries[int(i * step)] for i in range(limit)]
    return kind, entries


def data_features(data_dir, fbank_config, cmn, keys=None, limit=None):
    """``[(key, feats float32 [T, F])]`` of a data dir as the model sees them: fbank by the numpy
    front end (dither 0) from ``wav.scp``, or the matrices of ``feats.scp``; mean-normalised per
    utterance when ``cmn``."""
    import dataclasses

    kind, entries = data_entries(data_dir, keys, limit)
    result = []
    if kind == "wav":
        from bccmt_tools.features.fbank_numpy import compute_fbank_numpy
        from bccmt_tools.io.audio import read_audio

        config = dataclasses.replace(fbank_config, dither=0.0)
        where = Path(data_dir) / "wav.scp"
        for key, value in entries:
            feats = compute_fbank_numpy(read_audio(value, fbank_config.sample_rate, where=f"{where}: key {key!r}"),
                                        config)
            result.append((key, feats))
    else:
        from bccmt_tools.io.kaldi_table import load_value

        for key, value in entries:
            where = f"{Path(data_dir) / 'feats.scp'}: key {key!r}"
            result.append((key, np.asarray(load_value(value, where), dtype=np.float32)))
    prepared = []
    for key, feats in result:
        if feats.ndim != 2 or feats.shape[0] == 0:
            raise BccmtError(f"{data_dir}: key {key!r}: no feature frames (audio shorter than one frame?)")
        feats = feats - feats.mean(axis=0, keepdims=True) if cmn else feats
        prepared.append((key, feats.astype(np.float32)))
    return prepared


class _FeatureReader:
    """onnxruntime CalibrationDataReader over a list of feature matrices (batch 1 each)."""

    def __init__(self, features):
        self.items = iter(features)

    def get_next(self):
        feats = next(self.items, None)
        if feats is None:
            return None
        return {"feats": feats[None].astype(np.float32), "lengths": np.array([feats.shape[0]], dtype=np.int64)}


# ---------------------------------------------------------------------------------------------
# Which nodes stay in float


def _consumers(graph):
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consumers


def _feeds_softmax(node, consumers, depth=3):
    """True when an output of ``node`` reaches a Softmax within ``depth`` element-wise steps."""
    frontier = list(node.output)
    for _ in range(depth):
        following = [c for name in frontier for c in consumers.get(name, ())]
        if any(c.op_type == "Softmax" for c in following):
            return True
        frontier = [out for c in following if c.op_type not in QUANTIZED_OP_TYPES for out in c.output]
    return False


def float_nodes(model, keep_float=()):
    """``{node name: reason}`` for the Conv/Gemm nodes left in float (every other node type is
    float anyway): attention logits (they feed a softmax), depthwise/grouped convolutions and the
    names or name prefixes in ``keep_float``."""
    consumers = _consumers(model.graph)
    kept = {}
    for node in model.graph.node:
        if node.op_type not in QUANTIZED_OP_TYPES:
            continue
        group = next((attribute.i for attribute in node.attribute if attribute.name == "group"), 1)
        if any(node.name == item or node.name.startswith(item) for item in keep_float):
            kept[node.name] = "asked (--keep-float)"
        elif _feeds_softmax(node, consumers):
            kept[node.name] = "attention logits (feeds a softmax)"
        elif group > 1:
            kept[node.name] = "depthwise/grouped"
    return kept


_OP_GROUPS = (
    ("Softmax", ("Softmax",)),
    ("attention products q.k and weights.v (MatMul)", ("MatMul",)),
    ("attention bias path (Gather, Tile, Slice, Expand)", ("Gather", "Tile", "Slice", "Expand")),
    ("element-wise and normalisation (Add, Mul, BatchNormalization, GELU, ReduceMean, ...)",
     ("Add", "Sub", "Mul", "Div", "BatchNormalization", "Erf", "Gelu", "Relu", "Sigmoid", "Tanh", "Sqrt", "Pow",
      "ReduceMean", "ReduceSum", "Where", "Clip", "Pad", "Concat", "Split")),
)


def float_op_summary(model, kept):
    """What stays float, counted by kind: ``{"Softmax": 12, "Conv (depthwise/grouped)": 54, ...}``
    (shape bookkeeping such as Reshape or Shape is left out)."""
    summary = {}
    for node in model.graph.node:
        if node.op_type in QUANTIZED_OP_TYPES:
            label = f"{node.op_type} ({kept[node.name]})" if node.name in kept else None
        else:
            label = next((name for name, ops in _OP_GROUPS if node.op_type in ops), None)
        if label is not None:
            summary[label] = summary.get(label, 0) + 1
    return summary


# ---------------------------------------------------------------------------------------------
# Quantisation


def _prepare_for_quantization(src, dst):
    """Constant folding and basic graph simplification by onnxruntime (its quantisation
    pre-processing without the symbolic shape inference, which cannot follow the dynamic shape
    arithmetic of the models' masks)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(dst)
    onnxruntime.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])


def quantize_onnx(src, dst, calibration, per_channel=True, method=DEFAULT_CALIBRATION_METHOD, keep_float=()):
    """Write the static int8 (QDQ) quantisation of the ONNX model ``src`` to ``dst``.

    ``calibration`` is a list of feature matrices ``[T, F]`` (model-ready: CMN applied). Returns
    a report: the quantised node count, the float Conv/Gemm nodes with their reasons, and the
    settings (the file's metadata_props are carried over).
    """
    import onnx

    quantization = _onnx_quantization()
    if method not in CALIBRATION_METHODS:
        raise BccmtError(f"calibration method {method!r} is not one of {', '.join(CALIBRATION_METHODS)}")
    if not calibration:
        raise BccmtError("int8 quantisation needs calibration utterances; got none")
    methods = {"percentile": quantization.CalibrationMethod.Percentile,
               "minmax": quantization.CalibrationMethod.MinMax,
               "entropy": quantization.CalibrationMethod.Entropy}
    workdir = tempfile.mkdtemp(prefix="bccmt-quantize-")
    try:
        prepared = os.path.join(workdir, "prepared.onnx")
        _prepare_for_quantization(src, prepared)
        model = onnx.load(prepared)
        kept = float_nodes(model, keep_float)
        targets = [node.name for node in model.graph.node
                   if node.op_type in QUANTIZED_OP_TYPES and node.name not in kept]
        if not targets:
            raise BccmtError(f"{src}: no Conv or Gemm node left to quantise")
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # the quantiser logs every tensor it sees
        try:
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                quantization.quantize_static(
                    prepared, os.path.join(workdir, "int8.onnx"), _FeatureReader(calibration),
                    quant_format=quantization.QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=quantization.QuantType.QUInt8, weight_type=quantization.QuantType.QInt8,
                    op_types_to_quantize=list(QUANTIZED_OP_TYPES), nodes_to_quantize=targets,
                    calibrate_method=methods[method], extra_options={"CalibMaxIntermediateOutputs": 32})
        finally:
            logging.getLogger().setLevel(quiet)
        quantized = onnx.load(os.path.join(workdir, "int8.onnx"))
        source = onnx.load(str(src), load_external_data=False)
        del quantized.metadata_props[:]
        quantized.metadata_props.extend(source.metadata_props)
        onnx.save(quantized, str(dst))
        return {"quantized_nodes": len(targets), "float_convs": kept, "float_ops": float_op_summary(model, kept),
                "per_channel": per_channel, "calibration_method": method, "calibration_utterances": len(calibration),
                "weights": "int8 (symmetric)", "activations": "uint8 (asymmetric)", "format": "QDQ"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Accuracy


def trial_accuracy(onnx_path, trials_path, data_dir, features=None, p_target=ACCURACY_P_TARGET, num_threads=1):
    """``{"eer", "min_dcf", "p_target", "num_trials"}`` of an ONNX model on a labelled trial list:
    the trial utterances of ``data_dir`` embedded (``features`` from :func:`trial_features`, or
    computed here), cosine-scored."""
    from bccmt_tools.backend.embeddings import EmbeddingTable
    from bccmt_tools.backend.metrics import compute_metrics
    from bccmt_tools.backend.scoring import score_trials
    from bccmt_tools.embed.extract import ExtractionOptions, OnnxEmbedder, extract_embeddings
    from bccmt_tools.io.trials import read_trials

    embedder = OnnxEmbedder(onnx_path, "cpu", num_threads=num_threads)
    trials = read_trials(trials_path)
    if any(trial.label is None for trial in trials):
        raise BccmtError(f"{trials_path}: the accuracy check needs labelled trials (target/nontarget)")
    if features is None:
        features = trial_features(embedder, trials, data_dir)
    options = ExtractionOptions(cmn=False)  # trial_features are mean-normalised already
    pairs = list(extract_embeddings(features, embedder, options, None, str(data_dir)))
    table = EmbeddingTable([k for k, _ in pairs], np.stack([v for _, v in pairs]), where=str(data_dir))
    scored = score_trials(trials, table, table, "cosine", trials_where=str(trials_path))
    metrics = compute_metrics(scored.scores, scored.labels, (p_target,))
    return {"eer": metrics["eer"], "min_dcf": metrics["min_dcf"][f"{p_target:g}"]["min_dcf"], "p_target": p_target,
            "num_trials": metrics["num_trials"]}


def trial_features(embedder, trials, data_dir):
    """Model-ready features of every utterance the trials use, with the features config stored
    in the ONNX model (``embedder.feature_settings()``)."""
    settings = embedder.feature_settings()
    if settings is None:
        raise BccmtError(f"{embedder.path}: no features config in its metadata (export it with bccmt export)")
    return trial_features_for(*settings, trials, data_dir)


def trial_features_for(fbank, cmn, trials, data_dir):
    """Model-ready features (FbankConfig ``fbank``, ``cmn``) of every utterance the trials use."""
    keys = list(dict.fromkeys(key for trial in trials for key in (trial.enroll, trial.test)))
    return data_features(data_dir, fbank, cmn, keys=keys)


def accuracy_gate(before, after, max_increase=DEFAULT_MAX_EER_INCREASE):
    """``{"passed", "eer_relative_change"}``: passed when the EER of ``after`` is at most
    ``(1 + max_increase)`` times that of ``before`` (an EER of 0 allows no rise at all)."""
    change = (after["eer"] - before["eer"]) / before["eer"] if before["eer"] > 0 else (
        0.0 if after["eer"] <= 0 else float("inf"))
    return {"passed": bool(after["eer"] <= before["eer"] * (1.0 + max_increase) + 1e-12),
            "eer_relative_change": change}


def quantization_metadata(report, accuracy=None):
    """The JSON string stored under :data:`QUANTIZATION_METADATA_KEY`."""
    record = {key: report[key] for key in ("format", "weights", "activations", "per_channel", "calibration_method",
                                           "calibration_utterances", "quantized_nodes")}
    record["calibration_data"] = report.get("calibration_data")
    record["float_ops"] = report["float_ops"]
    if accuracy is not None:
        record["accuracy"] = accuracy
    return json.dumps(record, sort_keys=True)
