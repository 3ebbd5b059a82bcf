"""Benchmark: vectorised cosine and PLDA scoring vs a naive per-trial Python loop.

Scores 1M trials over 10k 192-d embeddings with bccmt's scorer (trial keys -> indices,
normalise once, chunked paired dot products), measuring wall time and peak traced memory
(tracemalloc, which sees numpy buffers), and a naive loop (dict look-up, normalise and score each
trial on its own) on a 10k-trial subset in the same run; reports time per trial and the ratio.

    .venv/bin/python bench/bench_scoring.py [--trials 1000000] [--embeddings 10000] [--naive-trials 10000]
"""

import argparse
import os
import time
import tracemalloc

import numpy as np

from bccmt_tools.backend.embeddings import EmbeddingTable
from bccmt_tools.backend.plda import train_plda
from bccmt_tools.backend.scoring import score_trials


def naive_cosine(trials, vectors):
    out = []
    for enroll, test, _ in trials:
        a, b = vectors[enroll], vectors[test]
        out.append(float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))))
    return np.array(out)


def naive_plda(trials, vectors, plda):
    """Per trial: run the pre-processing chain and projection on both sides, then the LLR."""
    psi = plda.psi
    out = []
    for enroll, test, _ in trials:
        u = plda.project(vectors[enroll][None])[0]
        v = plda.project(vectors[test][None])[0]
        gain = psi / (psi + 1.0)
        given = 1.0 + psi / (psi + 1.0)
        without = 1.0 + psi
        llr = (-0.5 * np.log(given).sum() - 0.5 * ((v - gain * u) ** 2 / given).sum()
               + 0.5 * np.log(without).sum() + 0.5 * (v ** 2 / without).sum())
        out.append(float(llr))
    return np.array(out)


def measure(function):
    tracemalloc.start()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--embeddings", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--naive-trials", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    num_spk = args.embeddings // 10
    speakers = rng.standard_normal((num_spk, args.dim))
    labels = np.repeat(np.arange(num_spk), 10)[:args.embeddings]
    matrix = speakers[labels] + 0.8 * rng.standard_normal((args.embeddings, args.dim))
    keys = [f"spk{label:05d}-utt{i:06d}" for i, label in enumerate(labels)]
    table = EmbeddingTable(keys, matrix, where="bench")
    pairs = rng.integers(0, args.embeddings, (args.trials, 2))
    trials = [(keys[a], keys[b], int(labels[a] == labels[b])) for a, b in pairs.tolist()]
    plda = train_plda(matrix[:5000], labels[:5000], num_iters=5)
    vectors = dict(zip(keys, matrix))
    subset = trials[:args.naive_trials]

    threads = os.environ.get("OMP_NUM_THREADS", "default")
    print(f"{args.trials} trials over {args.embeddings} x {args.dim}-d embeddings; naive loop on "
          f"{len(subset)} trials; CPUs {os.cpu_count()}, OMP_NUM_THREADS={threads}")
    print(f"{'back-end':8} {'method':10} {'trials':>9} {'time (s)':>9} {'us/trial':>9} {'peak MiB':>9}")
    for method in ("cosine", "plda"):
        scored, seconds, peak = measure(lambda: score_trials(trials, table, table, method, plda=plda))
        fast = seconds / args.trials
        if method == "cosine":
            reference, naive_seconds, naive_peak = measure(lambda: naive_cosine(subset, vectors))
        else:
            reference, naive_seconds, naive_peak = measure(lambda: naive_plda(subset, vectors, plda))
        np.testing.assert_allclose(scored.scores[:len(subset)], reference, rtol=1e-6, atol=1e-6)
        slow = naive_seconds / len(subset)
        print(f"{method:8} {'vectorised':10} {args.trials:9d} {seconds:9.2f} {1e6 * fast:9.3f} {peak:9.1f}")
        print(f"{method:8} {'naive loop':10} {len(subset):9d} {naive_seconds:9.2f} {1e6 * slow:9.3f} {naive_peak:9.1f}")
        print(f"{method:8} speed-up per trial: {slow / fast:.0f}x")


if __name__ == "__main__":
    main()
