"""Export a trained embedding model to TorchScript or ONNX, with a parity check against PyTorch."""

import click

from bccmt_tools.deploy.export import DEFAULT_TOLERANCE, FORMATS, deployment_metadata, export_model
from bccmt_tools.io import expdir
from bccmt_tools.models.experiment import load_model_from_exp


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--exp", "exp_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Experiment directory with config.yaml and checkpoints.")
@click.option("--checkpoint", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Checkpoint to export (default: avg_model.pt, else the newest epoch).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="onnx", show_default=True)
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Output file (default: EXP/model.onnx or EXP/model.torchscript.pt).")
@click.option("--opset", default=17, show_default=True, help="ONNX opset version.")
@click.option("--fuse/--no-fuse", default=True, show_default=True,
              help="Fold BatchNorm into neighbouring layers before exporting.")
@click.option("--tolerance", default=DEFAULT_TOLERANCE, show_default=True,
              help="Largest allowed max abs difference to PyTorch on the parity inputs.")
@click.option("--quantize", "quantize", type=click.Choice(["none", "int8"]), default="none", show_default=True,
              help="int8: static int8 (QDQ) ONNX model, calibrated on --calibration-data and checked by EER on "
                   "--check-trials instead of parity.")
@click.option("--calibration-data", type=click.Path(exists=True, file_okay=False), default=None,
              help="int8: Kaldi data dir (wav.scp, else feats.scp) whose utterances calibrate the activation ranges.")
@click.option("--calibration-utterances", type=click.IntRange(min=1), default=300, show_default=True,
              help="int8: utterances used for calibration, evenly spaced over the data dir.")
@click.option("--calibration-method", type=click.Choice(["minmax", "percentile", "entropy"]), default="minmax",
              show_default=True, help="int8: how activation ranges are taken from the calibration data.")
@click.option("--check-trials", type=click.Path(exists=True, dir_okay=False), default=None,
              help="int8: labelled trial list for the accuracy check (EER and minDCF(0.01), float vs int8).")
@click.option("--check-data", type=click.Path(exists=True, file_okay=False), default=None,
              help="int8: data dir holding the utterances of --check-trials (wav.scp or feats.scp).")
@click.option("--max-eer-increase", type=float, default=0.03, show_default=True,
              help="int8: largest allowed relative EER rise over the float model (0.03 = 3%).")
@click.option("--keep-float", multiple=True, metavar="NODE",
              help="int8: also keep this ONNX node (or node-name prefix, e.g. /stem/) in float; repeatable.")
@click.option("--force", is_flag=True, help="int8: write the model even when the EER rises more than allowed.")
def cli(exp_dir, checkpoint, fmt, out_path, opset, fuse, tolerance, quantize, calibration_data,
        calibration_utterances, calibration_method, check_trials, check_data, max_eer_increase, keep_float, force):
    """Export the model of EXP with dynamic batch and length axes.

    Inputs are feats [B, T, n_mels] float and lengths [B] int64; the output is embeddings [B, D].
    After writing, the exported model is run on random padded batches of several sizes and lengths
    and compared with PyTorch; beyond --tolerance the export fails and leaves no file.

    The file also stores the features config (fbank options and CMN), the embedding size and the
    model name (ONNX metadata_props; TorchScript extra file bccmt.json), so
    `bccmt verify --onnx FILE` needs no experiment directory and no torch.

    With --quantize int8 the model is also quantised to int8 (static QDQ, per-channel weights,
    activation ranges from --calibration-data); softmax, the attention logits, the attention
    bias path and the depthwise convolutions stay in float. Parity is no check for a rounded model: EER and minDCF(0.01) on
    --check-trials over --check-data are measured for the float and the int8 model, printed and
    stored in the file's metadata (bccmt.quantization), and the file is not written when the
    EER rises by more than --max-eer-increase (relative) unless --force.

    \b
    Examples:
        bccmt export --exp exp/bccmt_tiny --format onnx
        bccmt export --exp exp/bccmt_tiny --format torchscript --out tiny.pt
        bccmt export --exp exp/bccmt_tiny --format onnx --quantize int8 \\
            --calibration-data data/voxceleb1_dev --check-trials data/trials/vox1_O \\
            --check-data data/voxceleb1_test --out exp/bccmt_tiny/model.int8.onnx
    """

    from bccmt_tools.errors import BccmtError

    if quantize == "int8":
        if fmt != "onnx":
            raise BccmtError("--quantize int8 needs --format onnx")
        if not calibration_data:
            raise BccmtError("--quantize int8 needs --calibration-data DATA_DIR (a few hundred utterances)")
        if not check_trials or not check_data:
            raise BccmtError("--quantize int8 needs --check-trials TRIALS and --check-data DATA_DIR "
                             "(the accuracy check that replaces parity for int8)")
    elif any((calibration_data, check_trials, check_data, keep_float, force)):
        raise BccmtError("--calibration-data, --check-trials, --check-data, --keep-float and --force go with "
                         "--quantize int8")
    own_output = expdir.export_path(exp_dir, "int8" if quantize == "int8" else fmt)
    expdir.refuse_overwriting(out_path or own_output, exp_dir, own_output)
    model, config = load_model_from_exp(exp_dir, checkpoint)
    metadata = deployment_metadata(config, model, where=str(expdir.config_path(exp_dir)))
    if quantize == "int8":
        from bccmt_tools.deploy.export import export_int8

        out_path = out_path or str(expdir.export_path(exp_dir, "int8"))
        report = export_int8(model, out_path, metadata, calibration_data, check_trials, check_data,
                             calibration_utterances, method=calibration_method, keep_float=keep_float,
                             max_eer_increase=max_eer_increase, force=force, opset=opset, tolerance=tolerance,
                             progress=lambda message: click.echo(f"export: {message}", err=True))
        _echo_int8(report)
        return
    out_path = out_path or str(expdir.export_path(exp_dir, fmt))
    report = export_model(model, out_path, fmt, opset=opset, fuse=fuse, tolerance=tolerance, metadata=metadata)
    for shape, diff in report["per_shape"].items():
        click.echo(f"parity {shape} (batch x frames): max abs diff {diff:.3g}")
    click.echo(f"wrote {report['path']} ({fmt}, BN folded: {'yes' if fuse else 'no'}); "
               f"max abs diff {report['max_abs_diff']:.3g} <= {tolerance:g}")


def _echo_int8(report):
    floats = ", ".join(f"{name} x{count}" for name, count in report["float_ops"].items())
    click.echo(f"int8: {report['quantized_nodes']} Conv/Gemm nodes quantised ({report['format']}; weights "
               f"{report['weights']}, per {'channel' if report['per_channel'] else 'tensor'}; activations "
               f"{report['activations']}, {report['calibration_method']} ranges from "
               f"{report['calibration_utterances']} utterances)")
    click.echo(f"kept in float: {floats}")
    accuracy = report["accuracy"]
    for name in ("float", "int8"):
        row = accuracy[name]
        click.echo(f"accuracy {name:5s}: EER {100 * row['eer']:.3f}%  minDCF({row['p_target']:g}) {row['min_dcf']:.4f}  "
                   f"({row['num_trials']} trials)")
    verdict = "within" if accuracy["passed"] else "BEYOND (written with --force)"
    click.echo(f"EER change {100 * accuracy['eer_relative_change']:+.2f}% relative, {verdict} the allowed "
               f"{100 * accuracy['max_eer_increase']:g}%")
    click.echo(f"wrote {report['path']} (int8 ONNX; measures in its metadata bccmt.quantization)")
