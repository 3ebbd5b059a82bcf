"""Export-time rewrites that compute the same function with an ONNX graph that runs faster.

Three rewrites, all checked by the export's parity test:

* :func:`onnx_friendly` (on the PyTorch model, before export) swaps the relative position bias
  for :class:`ToeplitzRelativeBias`, whose shape arithmetic every block of a stage shares;
* :func:`static_reshapes` (on the exported ONNX file) gives every ``Reshape`` whose target shape
  the exporter computes at run time from ``Shape``/``Gather``/``Concat`` chains a constant target
  instead (``0`` = keep that input dimension, ``-1`` = the one dynamic dimension), and drops the
  chains: about a third of the graph's nodes, which cost more than the arithmetic at 1 s;
* :func:`fold_constants` stores the graph as onnxruntime's portable (basic-level) optimiser leaves
  it: constants folded, no-ops removed, standard ONNX operators only. Loading the file then takes
  less work (session creation, a fixed cost of every ``bccmt verify --onnx``: 265 -> 180 ms).

The relative position bias of BC-CMT's attention, ``bias[h, i, j] = table[h, clip(i // k - j)]``,
is written in the model as one gather of ``table`` with an index table ``[T_q, T_k]``. Exported, that
is an element-by-element ONNX ``Gather``, and at 10 s of audio it took a third of the Tiny model's
run time in ONNX Runtime's profiler. :class:`ToeplitzRelativeBias` builds the same matrix from
contiguous copies instead: the bias depends on ``i // k - j`` only, so the ``ceil(T_q / k)``
distinct rows are slices of one short vector (a Toeplitz matrix, made by tiling the vector and
reading it back with a row length one shorter, which shifts each row by one), and each distinct row is
repeated ``k`` times.

>>> import torch
>>> from bccmt_tools.models.attention import RelativePositionBias
>>> bias = RelativePositionBias(heads=2, ratio=3, clip=4)
>>> _ = bias.table.data.normal_()
>>> fast = ToeplitzRelativeBias(bias)
>>> all(torch.equal(fast(q, k), bias(q, k)) for q, k in [(1, 1), (7, 3), (20, 7), (5, 30)])
True
"""

import copy
import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from bccmt_tools.models.attention import TEMPORAL_ATTENTIONS, RelativePositionBias, SpectroTemporalAttention


class ToeplitzRelativeBias(nn.Module):
    """Same output as a :class:`RelativePositionBias` (and the same ``table`` parameter), built
    with tile, slice and reshape instead of an element-wise gather."""

    def __init__(self, bias: RelativePositionBias):
        super().__init__()
        self.ratio = bias.ratio
        self.clip = bias.clip
        self.table = bias.table
        self.frame_mask = None  # set by the attention's pre-hook (see onnx_friendly)

    def forward(self, num_queries: int, num_keys: int) -> Tensor:
        heads = self.table.shape[0]
        if self.frame_mask is not None:
            # Lengths from the stage's frame mask [B, T] rather than from this block's own tensors:
            # every block of a stage then computes the same shape arithmetic from the same tensor,
            # which ONNX Runtime merges into one copy (about 20 nodes fewer per block). The keys are
            # the ceil(T / ratio) frames of the reduction convolution.
            num_queries = self.frame_mask.shape[1]
            num_keys = (num_queries + self.ratio - 1) // self.ratio
        rows = (num_queries + self.ratio - 1) // self.ratio  # distinct rows: query i uses row i // ratio
        width = rows + num_keys  # vector r[n] = table[clip(rows - 1 - n)], n < width
        offsets = (rows - 1) - torch.arange(width, device=self.table.device)
        vector = self.table[:, offsets.clamp(-self.clip, self.clip) + self.clip]
        # Tiled rows of length `width` read back with length `width - 1`: element (i, j) comes from
        # position (rows - 1) + i * (width - 1) + j = i * width + (rows - 1 - i + j), i.e. r[rows-1-i+j]
        # = table[clip(i - j)].
        flat = vector.repeat(1, rows)[:, rows - 1:rows - 1 + rows * (width - 1)]
        distinct = flat.reshape(heads, rows, width - 1)[:, :, :num_keys]
        if self.ratio == 1:
            return distinct
        repeated = distinct.unsqueeze(2).expand(heads, rows, self.ratio, num_keys)
        return repeated.reshape(heads, rows * self.ratio, num_keys)[:, :num_queries]


def onnx_friendly(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every :class:`RelativePositionBias` replaced by a
    :class:`ToeplitzRelativeBias` (the input model is left as it is; a model without one comes back
    unchanged apart from the copy)."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, RelativePositionBias):
                setattr(module, name, ToeplitzRelativeBias(child))
        time_bias = getattr(module, "bias", None) if isinstance(module, TEMPORAL_ATTENTIONS) else (
            getattr(module, "time_bias", None) if isinstance(module, SpectroTemporalAttention) else None)
        if isinstance(time_bias, ToeplitzRelativeBias):
            module.register_forward_pre_hook(_remember_mask(time_bias))
    return model


def _remember_mask(bias):
    """Forward pre-hook of an attention module ``(x, mask)``: hands ``mask`` to its time bias."""
    def hook(_module, inputs):
        bias.frame_mask = inputs[1]
    return hook


def _symbolic_shapes(model):
    """``{tensor name: [dim, ...]}``, each dim an int or a symbolic expression string (None when
    unknown), from onnxruntime's symbolic shape inference."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)  # it logs every shape comparison it cannot decide
    try:
        # infer_shapes' own loop, minus its last step: on an incomplete inference it saves the model
        # as sym_shape_infer_temp.onnx in the current directory and raises; partial shapes do here.
        inference = SymbolicShapeInference(2 ** 31 - 1, True, False, 0)
        inference._preprocess(model)
        while inference.run_:
            inference._infer_impl()
        inference._update_output_from_vi()
        inferred = inference.out_mp_
    finally:
        logger.setLevel(level)
    shapes = {}
    graph = inferred.graph
    for value in list(graph.value_info) + list(graph.input) + list(graph.output):
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            shapes[value.name] = [dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or None)
                                  for dim in tensor.shape.dim]
    return shapes


def constant_target(input_shape, output_shape):
    """The constant ``Reshape`` target for ``input_shape -> output_shape`` (symbolic dims as
    strings), or None when two or more output dims are dynamic and new.

    >>> constant_target(["batch", 16, 40, "frames"], ["batch", 80, 8, "frames"])
    [0, 80, 8, 0]
    >>> constant_target(["batch", 64, "t"], ["batch", 8, 8, "t"])
    [0, 8, 8, -1]
    >>> constant_target(["h", "rows*w"], ["h", "rows", "w"]) is None
    True
    """
    target, free = [], 0
    for axis, dim in enumerate(output_shape):
        if isinstance(dim, int) and dim > 0:
            target.append(dim)
        elif axis < len(input_shape) and dim is not None and input_shape[axis] == dim and not isinstance(dim, int):
            target.append(0)
        else:
            target.append(-1)
            free += 1
    if free > 1 or any(dim == 0 for dim in output_shape):
        return None
    return target


def static_reshapes(path) -> int:
    """Rewrite the ONNX file ``path`` in place as described in the module docstring; returns the
    number of Reshape nodes made static (0, file untouched, when shape inference fails)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    try:
        shapes = _symbolic_shapes(model)
    except Exception:  # best effort: an unsupported graph keeps its run-time shapes
        return 0
    graph = model.graph
    changed = 0
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[0] not in shapes or node.output[0] not in shapes:
            continue
        target = constant_target(shapes[node.input[0]], shapes[node.output[0]])
        if target is None:
            continue
        name = f"{node.output[0]}__static_target"
        graph.initializer.append(numpy_helper.from_array(np.array(target, dtype=np.int64), name))
        node.input[1] = name
        changed += 1
    if changed:
        _drop_unused(graph)
        onnx.save(model, str(path))
    return changed


def _drop_unused(graph):
    """Remove the nodes and initializers that no graph output depends on."""
    needed = {output.name for output in graph.output}
    alive = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            alive.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(alive))
    kept = [item for item in graph.initializer if item.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def fold_constants(path) -> bool:
    """Rewrite the ONNX file ``path`` as onnxruntime's basic-level optimiser leaves it (see the
    module docstring); metadata is kept. False, file untouched, when that fails or would bring in
    operators outside the standard ONNX domain."""
    import tempfile

    import onnx
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="bccmt-fold-") as workdir:
        folded = str(Path(workdir) / "folded.onnx")
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = folded
        try:
            onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            model = onnx.load(folded)
        except Exception:  # best effort: the exported graph stays as it is
            return False
    if any(node.domain not in ("", "ai.onnx") for node in model.graph.node):
        return False
    kept = [entry for entry in model.opset_import if entry.domain in ("", "ai.onnx")]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    onnx.save(model, str(path))
    return True
