"""Side-by-side cost of the models: parameters, MACs and batch-1 latency, eager and ONNX Runtime.

Models are timed in alternation (round-robin over models within each repeat), so that load from
other processes on a shared machine affects them alike; the table reports medians and the latency
ratio of each model to the proposed BC-CMT-Tiny measured in the same run.

    .venv/bin/python bench/bench_models.py --threads 1 --seconds 1,2,5,10 --repeats 5 --runs 5
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from bccmt_tools.deploy.cost import (count_macs, count_parameters, frames_for_seconds, measure_onnx_latency,
                                     onnx_session, time_calls)
from bccmt_tools.deploy.export import write_onnx
from bccmt_tools.models import build_model
from bccmt_tools.models.fuse import fuse_for_inference
from bccmt_tools.train.model_file import PACKAGE_MODELS

CONF = PACKAGE_MODELS
MODELS = ["bccmt_tiny", "bccmt_tiny_conventional", "bccmt_small", "bccmt_base", "ecapa_tdnn_c512", "resnet34"]
REFERENCE = "bccmt_tiny"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", default="1,2,5,10")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=5, help="round-robin rounds over the models")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per model and round")
    parser.add_argument("--no-onnx", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seconds = [float(s) for s in args.seconds.split(",")]
    names = args.models.split(",")

    eager, sessions, info = {}, {}, {}
    workdir = tempfile.mkdtemp(prefix="bccmt-bench-")
    for name in names:
        model = build_model(yaml.safe_load((CONF / f"{name}.yaml").read_text()), where=name).eval()
        info[name] = {"params": count_parameters(model), "macs": {s: count_macs(model, s) for s in seconds}}
        eager[name] = fuse_for_inference(model)
        if not args.no_onnx:
            path = Path(workdir) / f"{name}.onnx"
            write_onnx(eager[name], path)
            sessions[name] = onnx_session(path, args.threads)

    times = {(kind, name, s): [] for kind in ("eager", "onnx") for name in names for s in seconds}
    for _ in range(args.repeats):
        for s in seconds:
            frames = frames_for_seconds(s)
            feats, lengths = torch.randn(1, frames, 80), torch.tensor([frames])
            for name in names:
                with torch.inference_mode():
                    result = time_calls(lambda: eager[name](feats, lengths), args.runs, 1, lambda: None)
                times[("eager", name, s)].append(result["median_ms"])
                if name in sessions:
                    result = measure_onnx_latency(sessions[name], s, runs=args.runs, warmup=1)
                    times[("onnx", name, s)].append(result["median_ms"])

    print(f"# {torch.get_num_threads()} thread(s), batch 1, BN folded; latency = median over "
          f"{args.repeats} rounds x {args.runs} runs; ratio = latency / latency of {REFERENCE}")
    header = "| model | params | s | MMACs | eager ms | eager ratio | onnxruntime ms | ort ratio |"
    print(header)
    print("|" + "---|" * 8)
    for name in names:
        for s in seconds:
            row = [name, f"{info[name]['params']:,}", f"{s:g}", f"{info[name]['macs'][s] / 1e6:.1f}"]
            for kind in ("eager", "onnx"):
                values = times[(kind, name, s)]
                if not values:
                    row += ["-", "-"]
                    continue
                median = statistics.median(values)
                reference = statistics.median(times[(kind, REFERENCE, s)]) if times[(kind, REFERENCE, s)] else float("nan")
                row += [f"{median:.1f}", f"{median / reference:.2f}"]
            print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
