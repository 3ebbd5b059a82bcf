"""Training throughput (samples/s) of proposed BC-CMT Tiny, Tiny + Base teacher (KD), Base, ECAPA-TDNN C=512.

One full optimisation step per batch (forward, AAM loss, backward, Adam step) on synthetic
features, after warm-up steps; ratios are against Tiny measured in the same run.

    python bench/bench_train.py --threads 2 --crop-frames 200 --batch-size 32 --steps 10
    python bench/bench_train.py --device cuda --batch-size 128
"""

import argparse
import time

import torch

from bccmt_tools.losses.aam import AAMSoftmax
from bccmt_tools.models import build_model
from bccmt_tools.train.config import resolve_config
from bccmt_tools.train.objective import TrainObjective
from bccmt_tools.train.optim import build_optimizer

MODELS = {
    "tiny": {"model": "bccmt", "model_conf": {"size": "tiny"}},
    "base": {"model": "bccmt", "model_conf": {"size": "base"}},
    "ecapa_c512": {"model": "ecapa_tdnn", "model_conf": {"channels": 512}},
}
CASES = [("tiny", None), ("tiny+kd(base)", "base"), ("base", None), ("ecapa_c512", None)]


class _FrozenTeacher:
    def __init__(self, model):
        self.model = model.eval()
        for param in self.model.parameters():
            param.requires_grad_(False)

    @torch.no_grad()
    def __call__(self, feats, lengths):
        embeddings, maps = self.model.forward_with_attention(feats, lengths)
        return embeddings, maps, None


def measure(name, teacher_name, args, device):
    torch.manual_seed(0)
    model_name = name.split("+")[0]
    model = build_model(MODELS[model_name])
    classifier = AAMSoftmax(model.embedding_dim, args.num_speakers)
    config = resolve_config({"model": "bccmt"})
    teacher, kd = None, None
    if teacher_name:
        teacher = _FrozenTeacher(build_model(MODELS[teacher_name]).to(device))
        kd = config["kd"]
    objective = TrainObjective(model, classifier, kd, teacher.model.embedding_dim if teacher else None).to(device)
    optimizer = build_optimizer(config["optim"], model, classifier)
    feats = torch.randn(args.batch_size, args.crop_frames, 80, device=device)
    lengths = torch.full((args.batch_size,), args.crop_frames, dtype=torch.long, device=device)
    labels = torch.randint(0, args.num_speakers, (args.batch_size,), device=device)
    objective.train()

    def step():
        outputs = teacher(feats, lengths) if teacher else None
        loss, _, _ = objective(feats, lengths, labels, 0.0, outputs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    return args.steps * args.batch_size / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--crop-frames", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--num-speakers", type=int, default=1000)
    parser.add_argument("--cases", default=",".join(name for name, _ in CASES),
                        help="comma-separated subset of: " + ", ".join(name for name, _ in CASES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    wanted = args.cases.split(",")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"# training throughput on {where}; batch {args.batch_size}, crop {args.crop_frames} frames, "
          f"{args.steps} timed steps after {args.warmup} warm-up; torch {torch.__version__}")
    results = {}
    for name, teacher in CASES:
        if name in wanted:
            results[name] = measure(name, teacher, args, device)
    reference = results.get("tiny")
    print(f"{'model':<16}{'samples/s':>12}{'ratio to tiny':>16}")
    for name, rate in results.items():
        ratio = f"{rate / reference:.2f}" if reference else "-"
        print(f"{name:<16}{rate:>12.1f}{ratio:>16}")


if __name__ == "__main__":
    main()
