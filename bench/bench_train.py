"""Training throughput (samples/s) of proposed BC-CMT Tiny, Tiny + Base teacher (KD), Base, ECAPA-TDNN C=512.

One full optimisation step per batch (forward, AAM loss, backward, Adam step) on synthetic
features, after warm-up steps; ratios are against Tiny (eager, the baseline path) measured in the
same run. Cases ending in "+compile" run the step through torch.compile (trainer.compile), "+bf16"
under bfloat16 autocast (trainer.cpu_amp: pays on CPUs with AMX or AVX512-BF16);
"kd ... unfused" is the teacher as it was before kd.fuse_teacher (BatchNorms kept). The timed
steps of all cases are interleaved round-robin, so a load change on a shared machine hits every
case alike.

    python bench/bench_train.py --threads 1 --crop-frames 100 --batch-size 64 --steps 6
    python bench/bench_train.py --device cuda --batch-size 128
    python bench/bench_train.py --threads 1 --batch-size 64 --cases tiny,tiny_conventional,base --malloc both
    python bench/bench_train.py --threads 2 --batch-size 64 --num-speakers 1428 --cases base,base+bf16,tiny,tiny+bf16

--malloc both runs the cases twice, in two processes one after the other: with glibc's default
allocation and with freed memory kept in the process (bccmt_tools.train.allocator, what `bccmt
train` does on a CPU), and gives each case's speed-up and both peak memory sizes.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from bccmt_tools.losses.aam import AAMSoftmax
from bccmt_tools.models import build_model
from bccmt_tools.train.allocator import retain_freed_memory
from bccmt_tools.train.config import resolve_config
from bccmt_tools.train.objective import TrainObjective
from bccmt_tools.train.optim import build_optimizer
from bccmt_tools.train.teacher import frozen

MODELS = {
    "tiny": {"model": "bccmt", "model_conf": {"size": "tiny"}},
    "base": {"model": "bccmt", "model_conf": {"size": "base"}},
    "tiny_conventional": {"model": "bccmt", "model_conf": {"size": "tiny", "attention": "spectro_temporal"}},
    "ecapa_c512": {"model": "ecapa_tdnn", "model_conf": {"channels": 512}},
}
# name -> (student, teacher or None, fuse the teacher, torch.compile, bfloat16 autocast on the CPU)
CASES = {
    "tiny": ("tiny", None, False, False, False),
    "tiny+compile": ("tiny", None, False, True, False),
    "tiny+bf16": ("tiny", None, False, False, True),
    "tiny+kd(base) unfused": ("tiny", "base", False, False, False),
    "tiny+kd(base)": ("tiny", "base", True, False, False),
    "tiny+kd(base)+compile": ("tiny", "base", True, True, False),
    "base": ("base", None, False, False, False),
    "base+bf16": ("base", None, False, False, True),
    "tiny_conventional": ("tiny_conventional", None, False, False, False),
    "base+compile": ("base", None, False, True, False),
    "ecapa_c512": ("ecapa_c512", None, False, False, False),
}


class _FrozenTeacher:
    def __init__(self, model, fuse, compile):
        self.model = frozen(model, fuse=fuse)
        self.forward = torch.compile(self.model.forward_with_attention) if compile else self.model.forward_with_attention

    @torch.no_grad()
    def __call__(self, feats, lengths):
        embeddings, maps = self.forward(feats, lengths)
        return embeddings, maps, None


def make_step(name, args, device):
    """A function running one optimisation step of case ``name`` on a fixed synthetic batch."""
    student, teacher_name, fuse, compile_step, bf16 = CASES[name]
    torch.manual_seed(0)
    model = build_model(MODELS[student]).to(device)
    classifier = AAMSoftmax(model.embedding_dim, args.num_speakers)
    config = resolve_config({"model": "bccmt"})
    teacher, kd = None, None
    if teacher_name:
        teacher = _FrozenTeacher(build_model(MODELS[teacher_name]).to(device), fuse, compile_step)
        kd = config["kd"]
    objective = TrainObjective(model, classifier, kd, teacher.model.embedding_dim if teacher else None).to(device)
    optimizer = build_optimizer(config["optim"], model, classifier)
    feats = torch.randn(args.batch_size, args.crop_frames, 80, device=device)
    lengths = torch.full((args.batch_size,), args.crop_frames, dtype=torch.long, device=device)
    labels = torch.randint(0, args.num_speakers, (args.batch_size,), device=device)
    objective.train()
    forward = torch.compile(objective) if compile_step else objective

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # as trainer.cpu_amp
            outputs = teacher(feats, lengths) if teacher else None
            loss, _, _ = forward(feats, lengths, labels, 0.0, outputs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--crop-frames", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--num-speakers", type=int, default=1000)
    parser.add_argument("--cases", default="tiny,tiny+compile,tiny+kd(base) unfused,tiny+kd(base),"
                        "tiny+kd(base)+compile,base,ecapa_c512",
                        help="comma-separated subset of: " + ", ".join(CASES))
    parser.add_argument("--malloc", choices=("default", "retain", "both"), default="default",
                        help="glibc's default allocation, freed memory kept in the process, or both (two runs)")
    args = parser.parse_args()
    if args.malloc == "both":
        compare_malloc(sys.argv[1:])
        return
    if args.malloc == "retain" and not retain_freed_memory():
        parser.error("--malloc retain: not applied (not glibc, or MALLOC_*/GLIBC_TUNABLES set in the environment)")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    wanted = [name.strip() for name in args.cases.split(",")]
    unknown = [name for name in wanted if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; have {list(CASES)}")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"# training throughput on {where}; batch {args.batch_size}, crop {args.crop_frames} frames, "
          f"{args.steps} timed steps per case after {args.warmup} warm-up (compile time excluded), interleaved; "
          f"torch {torch.__version__}")
    steps = {}
    for name in wanted:
        steps[name] = make_step(name, args, device)
        for _ in range(args.warmup):
            steps[name]()
    seconds = {name: [] for name in wanted}
    for _ in range(args.steps):
        for name in wanted:
            started = time.perf_counter()
            steps[name]()
            seconds[name].append(time.perf_counter() - started)
    rates = {name: args.batch_size / statistics.median(values) for name, values in seconds.items()}
    reference = rates.get("tiny")
    print(f"{'case':<24}{'samples/s':>12}{'step cost / tiny':>18}")
    for name, rate in rates.items():
        ratio = f"{reference / rate:.2f}" if reference else "-"
        print(f"{name:<24}{rate:>12.1f}{ratio:>18}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# peak memory {peak_mb:.0f} MB; rates " + json.dumps({"rates": rates, "peak_mb": peak_mb}))


def compare_malloc(argv):
    """This script with ``--malloc default`` and then ``--malloc retain``; each case's speed-up."""
    base, skip = [], False
    for arg in argv:  # argv without its --malloc option (and that option's value)
        if not skip and not arg.startswith("--malloc"):
            base.append(arg)
        skip = arg == "--malloc"
    results = {}
    for arm in ("default", "retain"):
        run = subprocess.run([sys.executable, __file__, *base, "--malloc", arm], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"--malloc {arm} failed")
        print(f"## --malloc {arm}\n{run.stdout}", end="")
        results[arm] = json.loads(run.stdout.strip().splitlines()[-1].split(" rates ", 1)[1])
    print(f"{'case':<24}{'speed-up (retain / default)':>30}")
    for name, rate in results["retain"]["rates"].items():
        print(f"{name:<24}{rate / results['default']['rates'][name]:>30.2f}")
    print(f"peak memory: {results['default']['peak_mb']:.0f} MB (default), {results['retain']['peak_mb']:.0f} MB (retain)")


if __name__ == "__main__":
    main()
