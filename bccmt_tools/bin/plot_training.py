"""Draw learning curves (loss terms, accuracy, learning rate, validation EER per epoch) of training runs."""

import os

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Image to write (.png, .svg or .pdf; default EXP/training.png for one EXP).")
@click.option("--name", "names", multiple=True, help="Legend name of each EXP, in order (default: its folder name).")
@click.option("--title", default=None, help="Figure title (default: the experiment names).")
@click.argument("exp_dirs", nargs=-1, required=True, type=click.Path(exists=True))
def cli(out, names, title, exp_dirs):
    """Draw the per-epoch curves of EXP_DIRS from their log/train.log (or train.log files given
    directly): loss and every loss term (aam, kd_attention, ...), training accuracy, learning
    rate, and validation EER where the run validated. A resumed run that logged an epoch twice
    counts its last line. Several runs (e.g. seeds) share the figure, one colour each.

    \b
    Examples:
      bccmt plot-training exp/compare/tiny_s1                       # -> exp/compare/tiny_s1/training.png
      bccmt plot-training --out curves.png exp/compare/tiny_s1 exp/compare/tiny_s2 exp/compare/tiny_kd_s1
    """
    from bccmt_tools.errors import BccmtError
    from bccmt_tools.train.curves import plot_training, read_training_log

    if names and len(names) != len(exp_dirs):
        raise BccmtError(f"--name given {len(names)} times for {len(exp_dirs)} experiments; give it once per EXP")
    if out is None:
        if len(exp_dirs) != 1 or not os.path.isdir(exp_dirs[0]):
            raise BccmtError("give --out when drawing several experiments (or a train.log file)")
        out = os.path.join(exp_dirs[0], "training.png")
    labels = list(names) or [os.path.basename(os.path.normpath(path)) for path in exp_dirs]
    if len(set(labels)) != len(labels):
        labels = [os.path.normpath(path) for path in exp_dirs]
    runs = {label: read_training_log(path) for label, path in zip(labels, exp_dirs)}
    plot_training(runs, out, title=title or ", ".join(labels))
    summary = "; ".join(f"{label}: {len(epochs)} epoch(s)" for label, epochs in runs.items())
    click.echo(f"plot-training: {summary} -> {out}", err=True)


if __name__ == "__main__":
    cli()
