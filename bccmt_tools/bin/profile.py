"""Cost of a model: parameters, MACs per input length and batch-1 latency (eager or ONNX Runtime)."""

import json

import click

from bccmt_tools.errors import BccmtError


MIN_SECONDS, MAX_SECONDS = 0.025, 60.0


def _parse_seconds(text):
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BccmtError(f"--seconds: expected comma-separated numbers, got '{text}'") from None
    if not values or not all(MIN_SECONDS < v <= MAX_SECONDS for v in values):  # also refuses nan
        raise BccmtError(f"--seconds: lengths must be above {MIN_SECONDS} s and at most {MAX_SECONDS:g} s "
                         f"(longer inputs need gigabytes for one forward pass), got '{text}'")
    return values


def _load(config_path, exp_dir):
    if bool(config_path) == bool(exp_dir):
        raise BccmtError("give exactly one of --config and --exp")
    if exp_dir:
        from bccmt_tools.models.experiment import load_model_from_exp
        model, config = load_model_from_exp(exp_dir)
        return model, config, exp_dir
    from bccmt_tools.io.yaml_io import read_yaml_mapping
    from bccmt_tools.models import build_model
    config = read_yaml_mapping(config_path, what="model config")
    return build_model(config, where=config_path).eval(), config, config_path


def format_table(name, report):
    lines = [f"{name}: {report['parameters']:,} parameters (without classifier); {report['threads']} thread(s), "
             f"device {report['device']}, batch 1"]
    header = f"{'seconds':>8} {'frames':>7} {'MMACs':>10} {'w/o attn matmuls':>16}"
    has_eager = any("latency" in row for row in report["lengths"])
    has_onnx = any("onnx_latency" in row for row in report["lengths"])
    if has_eager:
        header += f" {'eager ms (p10-p90)':>26}"
    if has_onnx:
        header += f" {'onnxruntime ms (p10-p90)':>26}"
    lines.append(header)
    for row in report["lengths"]:
        without = (row["macs"] - row.get("attention_matmul_macs", 0)) / 1e6
        line = f"{row['seconds']:>8g} {row['frames']:>7d} {row['macs'] / 1e6:>10.1f} {without:>16.1f}"
        for key in ("latency", "onnx_latency"):
            if key in row:
                lat = row[key]
                line += f" {lat['median_ms']:>9.2f} ({lat['p10_ms']:.2f}-{lat['p90_ms']:.2f})".rjust(27)
        lines.append(line)
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Model YAML (model + model_conf), random weights.")
@click.option("--exp", "exp_dir", type=click.Path(exists=True, file_okay=False), help="Trained experiment directory.")
@click.option("--seconds", default="1,2,5,10", show_default=True, help="Comma-separated signal lengths.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (eager timing).")
@click.option("--threads", default=1, show_default=True, help="CPU threads for PyTorch and onnxruntime.")
@click.option("--runs", default=20, show_default=True, help="Timed runs per length (median reported).")
@click.option("--warmup", default=3, show_default=True, help="Untimed runs before timing.")
@click.option("--no-latency", is_flag=True, help="Only parameters and MACs.")
@click.option("--fuse/--no-fuse", default=True, show_default=True, help="Time the model with BatchNorm folded.")
@click.option("--onnx", "onnx_path", type=click.Path(exists=True, dir_okay=False),
              help="Also time this exported ONNX model with onnxruntime (CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def cli(config_path, exp_dir, seconds, device, threads, runs, warmup, no_latency, fuse, onnx_path, as_json):
    """Parameters, MACs (convolutions, linear layers and attention matmuls) and latency at batch 1.

    MACs are counted with torch.utils.flop_counter (FLOPs / 2) at the fbank frame count of each
    length (25 ms window, 10 ms shift). Latency is the median of --runs runs after --warmup runs,
    with the 10th-90th percentile spread.

    \b
    Examples:
        bccmt profile --config bccmt_tools/conf/models/bccmt_tiny.yaml --seconds 1,10
        bccmt profile --exp exp/bccmt_tiny --threads 1 --json
        bccmt profile --exp exp/bccmt_tiny --onnx exp/bccmt_tiny/model.onnx
    """
    import torch

    from bccmt_tools.deploy.cost import measure_latency, measure_onnx_latency, onnx_session, profile_model
    from bccmt_tools.models.fuse import fuse_for_inference

    torch.set_num_threads(threads)
    lengths = _parse_seconds(seconds)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BccmtError(f"--device {device}: CUDA is not available on this machine")
    model, config, name = _load(config_path, exp_dir)
    report = profile_model(model, lengths, latency=False)
    if not no_latency:
        timed = (fuse_for_inference(model) if fuse else model).to(device)
        for row in report["lengths"]:
            row["latency"] = measure_latency(timed, row["seconds"], device, runs, warmup)
    if onnx_path:
        session = onnx_session(onnx_path, threads)
        n_mels = config.get("model_conf", {}).get("n_mels", 80)
        for row in report["lengths"]:
            row["onnx_latency"] = measure_onnx_latency(session, row["seconds"], n_mels, runs, warmup)
    report.update(model=config.get("model"), source=name, threads=threads, device=device, fused=fuse)
    click.echo(json.dumps(report, indent=2) if as_json else format_table(name, report))
