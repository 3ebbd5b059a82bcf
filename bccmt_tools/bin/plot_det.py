"""Draw the DET curves of several score files of one trial list in one figure (EER and minDCF marked)."""

import os

import click


def curve_names(paths, names=()):
    """Legend names: ``names`` when given, else each file's last suffix (``vox1_O.plda`` -> ``plda``)
    when those are distinct, else the file names.

    >>> curve_names(["s/vox1_O.cosine", "s/vox1_O.plda"])
    ['cosine', 'plda']
    >>> curve_names(["a/scores", "b/scores"])
    ['a/scores', 'b/scores']
    """
    from bccmt_tools.errors import BccmtError

    if names:
        if len(names) != len(paths):
            raise BccmtError(f"--name given {len(names)} times for {len(paths)} score files; give it once per file")
        return list(names)
    suffixes = [os.path.splitext(path)[1].lstrip(".") for path in paths]
    if all(suffixes) and len(set(suffixes)) == len(suffixes):
        return suffixes
    bases = [os.path.basename(path) for path in paths]
    return bases if len(set(bases)) == len(bases) else list(paths)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Image to write (.png, .svg or .pdf; written atomically).")
@click.option("--trials", type=click.Path(dir_okay=False), default=None,
              help="Take labels from this trial list (any supported format) instead of the score files.")
@click.option("--name", "names", multiple=True,
              help="Legend name of each score file, in order (default: the file suffix, e.g. cosine).")
@click.option("--title", default=None, help="Figure title (default: the trial list's file name).")
@click.option("--p-target", "p_target_text", default="0.01,0.05", show_default=True,
              help="Comma-separated target priors whose minDCF points are marked.")
@click.option("--c-miss", type=float, default=1.0, show_default=True, help="Cost of a miss.")
@click.option("--c-fa", type=float, default=1.0, show_default=True, help="Cost of a false alarm.")
@click.argument("scores", nargs=-1, required=True, type=click.Path(dir_okay=False))
def cli(out, trials, names, title, p_target_text, c_miss, c_fa, scores):
    """Draw one DET figure with a curve per SCORES file ('enroll test score [target|nontarget]').

    The axes (normal-deviate scale, as NIST DET plots) reach from the smallest error rate the
    trial list can show to past the highest EER and minDCF point, so weak systems are drawn in
    full. Each curve carries its EER point (circle) and its minDCF operating point per
    --p-target; the legend gives the values.

    \b
    Examples:
      bccmt plot-det --trials data/trials/vox1_O --out exp/x/scores/vox1_O.det.png \\
          exp/x/scores/vox1_O.cosine exp/x/scores/vox1_O.asnorm exp/x/scores/vox1_O.plda
      bccmt plot-det --name teacher --name student --out det.svg \\
          exp/teacher/scores/vox1_O.plda exp/student/scores/vox1_O.plda
    """
    from bccmt_tools.backend.det import plot_det
    from bccmt_tools.backend.metrics import parse_p_targets
    from bccmt_tools.backend.scoring import labels_from_trials, read_scores
    from bccmt_tools.errors import BccmtError

    p_targets = parse_p_targets(p_target_text)
    trial_list = None
    if trials:
        from bccmt_tools.io.trials import read_trials

        trial_list = read_trials(trials)
    curves = {}
    for name, path in zip(curve_names(scores, names), scores):
        if not os.path.isfile(path):
            raise BccmtError(f"{path}: score file not found")
        scored = read_scores(path)
        if trial_list is not None:
            labels = labels_from_trials(scored, trial_list, trials)
        elif scored.labels is not None:
            labels = scored.labels
        else:
            raise BccmtError(f"{path}: no labels; give --trials with a labelled trial list")
        if name in curves:
            raise BccmtError(f"{path}: legend name {name!r} is used twice; give --name per file")
        curves[name] = (scored.scores, labels)
    if title is None:
        title = os.path.basename(trials) if trials else None
    low, high = plot_det(curves, out, title=title, p_targets=p_targets, c_miss=c_miss, c_fa=c_fa)
    click.echo(f"plot-det: {len(curves)} curve(s) -> {out} (axes {100 * low:g}% to {100 * high:g}%)", err=True)


if __name__ == "__main__":
    cli()
