"""How much of an ONNX model's batch-1 latency is ONNX Runtime's per-node dispatch, and how much
is the work of its kernels.

Two chains of element-wise ``Add`` nodes (--short-chain and --long-chain nodes) on a tensor of
--chain-shape are timed in the same session settings as ``bccmt verify --onnx``
(``bccmt_tools.embed.extract.session_options``, one thread); the difference per added node is the
cost of dispatching a node that does almost nothing. The model (--onnx) is then counted after
ONNX Runtime's own optimisations and timed at each of --seconds, and the report gives its node
count times that per-node cost as the dispatch floor, and the floor's share of the model's time.
All in one process, chains and model timed alternately, so machine load hits them alike.

    .venv/bin/python bench/bench_onnx_dispatch.py                       # the released student
    .venv/bin/python bench/bench_onnx_dispatch.py --onnx exp/x/model.onnx --seconds 1,2,10
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_ONNX = REPO / "models" / "minivox" / "student_tiny_kd" / "model.onnx"


def add_chain(num_nodes, shape):
    """An ONNX model of ``num_nodes`` chained ``Add(x, 0.5)`` nodes on a float tensor of ``shape``.

    >>> model = add_chain(3, [1, 8])
    >>> [node.op_type for node in model.graph.node]
    ['Add', 'Add', 'Add']
    """
    from onnx import TensorProto, helper

    nodes, previous = [], "x"
    for index in range(num_nodes):
        nodes.append(helper.make_node("Add", [previous, "half"], [f"y{index}"]))
        previous = f"y{index}"
    graph = helper.make_graph(nodes, "add_chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(previous, TensorProto.FLOAT, shape)],
                              [helper.make_tensor("half", TensorProto.FLOAT, [1], [0.5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def optimized_node_count(onnxruntime, options, path):
    """Nodes of ``path`` once ONNX Runtime has optimised it with ``options`` (layout reorders included)."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        return len(onnx.load(options.optimized_model_filepath).graph.node)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--onnx", default=str(DEFAULT_ONNX), help="model file (inputs feats [B, T, 80], lengths [B])")
    parser.add_argument("--seconds", default="1,2", help="comma-separated input lengths (100 frames per second)")
    parser.add_argument("--short-chain", type=int, default=100, help="nodes of the shorter Add chain")
    parser.add_argument("--long-chain", type=int, default=900, help="nodes of the longer Add chain")
    parser.add_argument("--chain-shape", default="1,32,100", help="tensor shape of the chains")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (the fastest round is reported)")
    parser.add_argument("--runs", type=int, default=100, help="calls per round")
    args = parser.parse_args(argv)
    if not Path(args.onnx).is_file():
        sys.exit(f"bench_onnx_dispatch.py: error: --onnx {args.onnx}: no such file")
    import onnxruntime

    from bccmt_tools.embed.extract import session_options

    def session(model):
        return onnxruntime.InferenceSession(model, sess_options=session_options(onnxruntime, 1),
                                            providers=["CPUExecutionProvider"])

    shape = [int(size) for size in args.chain_shape.split(",")]
    chain_input = {"x": np.ones(shape, dtype=np.float32)}
    rng = np.random.default_rng(0)
    timed = {f"chain of {n}": (session(add_chain(n, shape).SerializeToString()), chain_input)
             for n in (args.short_chain, args.long_chain)}
    model = session(str(args.onnx))
    seconds = [float(s) for s in args.seconds.split(",")]
    for length in seconds:
        frames = int(round(100 * length))
        timed[f"model at {length:g} s"] = (model, {
            "feats": rng.standard_normal((1, frames, 80), dtype=np.float32),
            "lengths": np.array([frames], dtype=np.int64)})
    times = {name: [] for name in timed}
    for name, (sess, feed) in timed.items():
        for _ in range(10):  # warm-up
            sess.run(None, feed)
    for _ in range(args.rounds):
        for name, (sess, feed) in timed.items():
            begin = time.perf_counter()
            for _ in range(args.runs):
                sess.run(None, feed)
            times[name].append((time.perf_counter() - begin) / args.runs)
    best = {name: min(values) for name, values in times.items()}
    spread = {name: statistics.median(values) for name, values in times.items()}
    per_node = (best[f"chain of {args.long_chain}"] - best[f"chain of {args.short_chain}"]) / (
        args.long_chain - args.short_chain)
    nodes = optimized_node_count(onnxruntime, session_options(onnxruntime, 1), args.onnx)
    print(f"onnxruntime {onnxruntime.__version__}, one thread; fastest of {args.rounds} rounds x {args.runs} calls "
          f"(median round in brackets)")
    print(f"dispatch per node: {1e6 * per_node:.2f} us (Add chains of {args.short_chain} and {args.long_chain} "
          f"nodes on {shape})")
    print(f"{args.onnx}: {nodes} nodes after onnxruntime's optimisations; dispatch floor "
          f"{1e3 * nodes * per_node:.2f} ms")
    for length in seconds:
        name = f"model at {length:g} s"
        print(f"{name}: {1e3 * best[name]:.2f} ms ({1e3 * spread[name]:.2f}); dispatch floor "
              f"{100 * nodes * per_node / best[name]:.0f}% of it")


if __name__ == "__main__":
    main()
