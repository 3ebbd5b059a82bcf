"""Export a trained embedding model to TorchScript or ONNX, with a parity check against PyTorch."""

import click

from bccmt_tools.models.export import DEFAULT_TOLERANCE, FORMATS, deployment_metadata, export_model
from bccmt_tools.models.experiment import load_model_from_exp

DEFAULT_NAMES = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx"}


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
def cli(exp_dir, checkpoint, fmt, out_path, opset, fuse, tolerance):
    """Export the model of EXP with dynamic batch and length axes.

    Inputs are feats [B, T, n_mels] float and lengths [B] int64; the output is embeddings [B, D].
    After writing, the exported model is run on random padded batches of several sizes and lengths
    and compared with PyTorch; beyond --tolerance the export fails and leaves no file.

    The file also stores the features config (fbank options and CMN), the embedding size and the
    model name (ONNX metadata_props; TorchScript extra file bccmt.json), so
    `bccmt verify --onnx FILE` needs no experiment directory and no torch.

    \b
    Examples:
        bccmt export --exp exp/bccmt_tiny --format onnx
        bccmt export --exp exp/bccmt_tiny --format torchscript --out tiny.pt
    """
    from pathlib import Path

    model, config = load_model_from_exp(exp_dir, checkpoint)
    metadata = deployment_metadata(config, model, where=str(Path(exp_dir) / "config.yaml"))
    out_path = out_path or str(Path(exp_dir) / DEFAULT_NAMES[fmt])
    report = export_model(model, out_path, fmt, opset=opset, fuse=fuse, tolerance=tolerance, metadata=metadata)
    for shape, diff in report["per_shape"].items():
        click.echo(f"parity {shape} (batch x frames): max abs diff {diff:.3g}")
    click.echo(f"wrote {report['path']} ({fmt}, BN folded: {'yes' if fuse else 'no'}); "
               f"max abs diff {report['max_abs_diff']:.3g} <= {tolerance:g}")
