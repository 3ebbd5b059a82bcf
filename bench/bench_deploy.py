"""Deployment figures in one run: BC-CMT Tiny (fp32 and int8) against ECAPA-TDNN C=512 (fp32, int8).

For each model, exported to ONNX the way `bccmt export` does it (BN folded, graph rewrites, int8:
static QDQ calibrated on --calibration-data):

* batch-1 latency on one thread at 1/2/5/10 s (median and p90 wall time over --repeats rounds x
  --runs calls, models interleaved so that load from other processes hits them alike), the same
  with the numpy fbank of the audio included (what `bccmt verify --onnx` pays per file), and the
  ratio of each model's latency to ECAPA-C512 fp32's in the same run;
* model size on disk;
* EER and minDCF(0.01) on the mini vox1_O (--trials over --trials-data) for trained models;
* extraction throughput: `utils/extract_embeddings.sh --nj N --onnx MODEL` over a data dir of
  10 s utterances (made from the minivox wavs unless --throughput-data is given), fbank
  included, as times real time (audio seconds / wall seconds).

ECAPA-C512 has no trained weights here: it is built from bccmt_tools/conf/models/ecapa_tdnn_c512.yaml with
random weights (same cost), so it gets latency, size and throughput but no EER.

    .venv/bin/python bench/bench_deploy.py --exp egs/voxceleb/exp/compare/tiny_s1 --workdir /tmp/bench_deploy

Without avg_model.pt in --exp the newest checkpoint is used (printed). On a shared machine add
--clock cpu: latencies are then thread CPU time, which other processes disturb less.
"""

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EGS = REPO / "egs" / "voxceleb"
REFERENCE = "ECAPA-C512 fp32"


def build_models(args, workdir):
    """``{name: (onnx path, trained)}``, exported into ``workdir``."""
    import torch

    from bccmt_tools.deploy.export import deployment_metadata, export_int8, export_model
    from bccmt_tools.models.experiment import default_checkpoint, load_model_from_exp

    torch.set_num_threads(1)
    models = {}
    checkpoint = args.checkpoint or str(default_checkpoint(args.exp))
    print(f"# Tiny: {args.exp} checkpoint {checkpoint}")
    tiny, config = load_model_from_exp(args.exp, checkpoint)
    metadata = deployment_metadata(config, tiny)
    models["Tiny fp32"] = (export_model(tiny, workdir / "tiny_fp32.onnx", "onnx", metadata=metadata)["path"], True)
    report = export_int8(tiny, workdir / "tiny_int8.onnx", metadata, args.calibration_data,
                         calibration_utterances=args.calibration_utterances, force=True)
    models["Tiny int8"] = (report["path"], True)
    print(f"# Tiny int8: {report['quantized_nodes']} Conv/Gemm quantised; float: "
          + ", ".join(f"{k} x{v}" for k, v in report["float_ops"].items()))
    if args.conventional_exp:
        conventional, conventional_config = load_model_from_exp(args.conventional_exp, None)
        print(f"# Conventional Tiny: {args.conventional_exp}")
    else:
        conventional, conventional_config = untrained("bccmt_tiny_conventional", config)
    models["Conventional Tiny fp32"] = (export_model(conventional, workdir / "conventional_fp32.onnx", "onnx",
                                                     metadata=deployment_metadata(conventional_config, conventional)
                                                     )["path"], bool(args.conventional_exp))
    ecapa, ecapa_config = untrained("ecapa_tdnn_c512", config)
    ecapa_metadata = deployment_metadata(ecapa_config, ecapa)
    models["ECAPA-C512 fp32"] = (export_model(ecapa, workdir / "ecapa_fp32.onnx", "onnx",
                                              metadata=ecapa_metadata)["path"], False)
    if not args.no_ecapa_int8:
        try:
            report = export_int8(ecapa, workdir / "ecapa_int8.onnx", ecapa_metadata, args.calibration_data,
                                 calibration_utterances=args.calibration_utterances, force=True)
            models["ECAPA-C512 int8"] = (report["path"], False)
        except Exception as error:  # report and go on: the int8 ECAPA is optional
            print(f"# ECAPA-C512 int8 not built: {error}")
    return models


def untrained(name, tiny_config):
    """``(model, config)`` of the package's model file ``name`` with random weights (seed 0) and
    the Tiny's features: same cost as a trained one, so latency and size but no EER."""
    import torch

    from bccmt_tools.models import build_model
    from bccmt_tools.train.model_file import PACKAGE_MODELS, read_model_file

    torch.manual_seed(0)
    model, model_conf = read_model_file(PACKAGE_MODELS / f"{name}.yaml")
    config = {"model": model, "model_conf": model_conf, "features": tiny_config.get("features")}
    return build_model(config, where=f"{name}.yaml").eval(), config


def frames(seconds):
    from bccmt_tools.deploy.cost import frames_for_seconds

    return frames_for_seconds(seconds)


def measure_latency(models, args):
    """``{(name, seconds): {"model": [...], "e2e": [...]}}`` in ms."""
    from bccmt_tools.embed.extract import OnnxEmbedder
    from bccmt_tools.features.fbank_numpy import compute_fbank_numpy
    from bccmt_tools.io.audio import read_audio

    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    embedders = {name: OnnxEmbedder(path, "cpu", num_threads=1) for name, (path, _) in models.items()}
    fbank, _cmn = embedders["Tiny fp32"].feature_settings()
    wavs = sorted(glob.glob(str(Path(args.corpus) / "voxceleb1" / "wav" / "*" / "*" / "*.wav")))[::7]
    audio = np.concatenate([read_audio(path) for path in wavs[:int(max(args.seconds)) + 2]])
    times = {}
    for seconds in args.seconds:
        samples = audio[:int(seconds * 16000)]
        feats = compute_fbank_numpy(samples, fbank)
        feats = (feats - feats.mean(axis=0))[None]
        lengths = np.array([feats.shape[1]])
        for embedder in embedders.values():  # warm-up
            embedder(feats, lengths)
        for _ in range(args.repeats):
            for name, embedder in embedders.items():
                record = times.setdefault((name, seconds), {"model": [], "e2e": []})
                for _ in range(args.runs):
                    start = clock()
                    embedder(feats, lengths)
                    record["model"].append(1000 * (clock() - start))
                    start = clock()
                    full = compute_fbank_numpy(samples, fbank)
                    embedder((full - full.mean(axis=0))[None], lengths)
                    record["e2e"].append(1000 * (clock() - start))
    return times


def p90(values):
    ordered = sorted(values)
    return ordered[int(round(0.9 * (len(ordered) - 1)))]


def measure_accuracy(models, args):
    from bccmt_tools.deploy import quantize
    from bccmt_tools.embed.extract import OnnxEmbedder
    from bccmt_tools.io.trials import read_trials

    results = {}
    features = None
    for name, (path, trained) in models.items():
        if not trained:
            continue
        if features is None:
            features = quantize.trial_features(OnnxEmbedder(path), read_trials(args.trials), args.trials_data)
        results[name] = quantize.trial_accuracy(path, args.trials, args.trials_data, features)
    return results


def throughput_data(args, workdir):
    """A data dir of 10 s utterances (concatenated minivox wavs) and its total seconds."""
    import soundfile

    if args.throughput_data:
        durations = []
        for line in open(Path(args.throughput_data) / "wav.scp", encoding="utf-8"):
            if line.strip():
                durations.append(soundfile.info(line.split(None, 1)[1].strip()).duration)
        return args.throughput_data, sum(durations)
    data = workdir / "data10s"
    (data / "wav").mkdir(parents=True, exist_ok=True)
    wavs = sorted(glob.glob(str(Path(args.corpus) / "voxceleb1" / "wav" / "*" / "*" / "*.wav")))
    lines, total = [], 0.0
    for index in range(min(args.throughput_utterances, len(wavs) // 10)):
        samples = np.concatenate([soundfile.read(path, dtype="int16")[0] for path in wavs[10 * index:10 * index + 10]])
        path = data / "wav" / f"u{index:04d}.wav"
        soundfile.write(str(path), samples, 16000, "PCM_16")
        lines.append(f"u{index:04d} {path}\n")
        total += samples.size / 16000
    (data / "wav.scp").write_text("".join(lines))
    return str(data), total


def measure_throughput(models, args, workdir):
    data, seconds = throughput_data(args, workdir)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    results = {}
    for name, (path, _trained) in models.items():
        out = workdir / f"emb_{name.replace(' ', '_')}"
        command = [str(REPO / "utils" / "extract_embeddings.sh"), "--nj", str(args.nj), "--onnx", path,
                   str(workdir), data, str(out)]
        start, cpu = time.perf_counter(), os.times()
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        used = os.times()
        cpu_seconds = (used.children_user - cpu.children_user) + (used.children_system - cpu.children_system)
        if result.returncode != 0:
            print(f"# throughput {name}: failed: {result.stderr.strip().splitlines()[-1:]}")
            continue
        results[name] = {"wall": wall, "cpu": cpu_seconds, "audio": seconds}
    return data, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp", default=str(EGS / "exp" / "compare" / "tiny_s1"), help="trained Tiny experiment")
    parser.add_argument("--checkpoint", default=None, help="default: avg_model.pt, else the newest epoch")
    parser.add_argument("--conventional-exp", default=None,
                        help="trained conventional Tiny experiment (default: random weights, latency and size only)")
    parser.add_argument("--calibration-data", default=str(EGS / "data" / "voxceleb1_dev"),
                        help="data dir (feats.scp or wav.scp) the int8 models are calibrated on")
    parser.add_argument("--calibration-utterances", type=int, default=300)
    parser.add_argument("--trials", default=str(EGS / "data" / "trials" / "vox1_O"))
    parser.add_argument("--trials-data", default=str(EGS / "data" / "voxceleb1_test"))
    parser.add_argument("--corpus", default=os.environ.get("BCCMT_DATA", "/work/shared/data/minivox"))
    parser.add_argument("--seconds", default="1,2,5,10")
    parser.add_argument("--repeats", type=int, default=5, help="rounds over the models (interleaved)")
    parser.add_argument("--runs", type=int, default=10, help="timed calls per model, length and round")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--nj", type=int, default=2)
    parser.add_argument("--throughput-data", default=None, help="data dir (wav.scp); default: 10 s minivox utterances")
    parser.add_argument("--throughput-utterances", type=int, default=227)
    parser.add_argument("--no-ecapa-int8", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--workdir", default=None, help="where models and embeddings go (default: a temp dir)")
    args = parser.parse_args(argv)
    from bccmt_tools.errors import BccmtError

    try:
        return run(args)
    except BccmtError as error:
        print(f"bench_deploy.py: {error}", file=sys.stderr)
        return 1


def run(args):
    """The benchmark of ``main``'s parsed options; prints its tables, returns 0."""
    from bccmt_tools.deploy.quantize import data_entries

    data_entries(args.calibration_data, limit=1)  # a --calibration-data that is no data dir fails before any export
    args.seconds = [float(value) for value in args.seconds.split(",")]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bccmt-bench-deploy-"))
    workdir.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()
    models = build_models(args, workdir)
    times = measure_latency(models, args)
    accuracy = measure_accuracy(models, args)
    data, throughput = ({}, {}) if args.skip_throughput else measure_throughput(models, args, workdir)
    load_after = os.getloadavg()

    print(f"# {os.cpu_count()} CPUs, load average {load_before[0]:.1f} at start, {load_after[0]:.1f} at end; "
          f"latency: batch 1, 1 thread, {args.clock} clock, {args.repeats} rounds x {args.runs} runs, "
          f"models interleaved; +fbank = numpy fbank of the audio + CMN + model; ratio = {REFERENCE} / model")
    header = "| model | s | median ms | p90 ms | +fbank median ms | ratio to ECAPA (model) | ratio (+fbank) |"
    print(header)
    print("|" + "---|" * 7)
    for name in models:
        for seconds in args.seconds:
            record, reference = times[(name, seconds)], times[(REFERENCE, seconds)]
            model, e2e = statistics.median(record["model"]), statistics.median(record["e2e"])
            print(f"| {name} | {seconds:g} | {model:.2f} | {p90(record['model']):.2f} | {e2e:.2f} | "
                  f"{statistics.median(reference['model']) / model:.2f}x | "
                  f"{statistics.median(reference['e2e']) / e2e:.2f}x |")
    print()
    print(f"| model | size on disk | EER % (mini vox1_O) | minDCF(0.01) | throughput --nj {args.nj} (x real time) | CPU s |")
    print("|---|---|---|---|---|---|")
    for name, (path, trained) in models.items():
        size = f"{os.path.getsize(path) / 1e6:.2f} MB"
        if name in accuracy:
            eer, dcf = f"{100 * accuracy[name]['eer']:.2f}", f"{accuracy[name]['min_dcf']:.4f}"
        else:
            eer = dcf = "- (random weights)" if not trained else "-"
        if name in throughput:
            row = throughput[name]
            speed, cpu = f"{row['audio'] / row['wall']:.0f}x ({row['audio']:.0f} s audio)", f"{row['cpu']:.1f}"
        else:
            speed = cpu = "-"
        print(f"| {name} | {size} | {eer} | {dcf} | {speed} | {cpu} |")
    if accuracy.get("Tiny fp32") and accuracy.get("Tiny int8"):
        change = accuracy["Tiny int8"]["eer"] / accuracy["Tiny fp32"]["eer"] - 1.0
        print(f"\n# int8 EER change: {100 * change:+.2f}% relative ({accuracy['Tiny fp32']['num_trials']} trials)")
    if throughput:
        print(f"# throughput data: {data}")
    print(f"# models in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
