"""EER, minDCF, actual DCF, Cllr, operating thresholds and score statistics of a score file; DET plot."""

import json

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--trials", type=click.Path(dir_okay=False), default=None,
              help="Take labels from this trial list (any supported format) instead of the score file.")
@click.option("--p-target", "p_target_text", default="0.01,0.05", show_default=True,
              help="Comma-separated target priors for minDCF.")
@click.option("--c-miss", type=float, default=1.0, show_default=True, help="Cost of a miss.")
@click.option("--c-fa", type=float, default=1.0, show_default=True, help="Cost of a false alarm.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON instead of text.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the report (text, or JSON with --json) to this file (atomically) instead of stdout.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
              help="Extra fields stored under 'tags' in the JSON (e.g. trials=vox1_O backend=cosine; read by make-results).")
@click.option("--det-plot", type=click.Path(dir_okay=False), default=None,
              help="Also draw a DET curve to this image (needs matplotlib).")
@click.option("--plot", "score_plot", type=click.Path(dir_okay=False), default=None,
              help="Also draw the DET curve beside target / non-target score histograms with the EER, minDCF "
                   "(and, for LLRs, Bayes) thresholds to this image (needs matplotlib).")
@click.argument("scores", type=click.Path(dir_okay=False))
def cli(trials, p_target_text, c_miss, c_fa, as_json, out, tags, det_plot, score_plot, scores):
    """Compute EER and minDCF of SCORES ('enroll test score [target|nontarget]' lines).

    EER is interpolated where the miss and false-alarm rates cross; minDCF uses
    C_miss * P_target * P_miss + C_fa * (1 - P_target) * P_fa, normalised by
    min(C_miss * P_target, C_fa * (1 - P_target)). A trial is accepted when score >= threshold.

    Reading the scores as log-likelihood ratios, it also reports the actual DCF (decisions at the
    Bayes threshold log((1 - P_target) / P_target * C_fa / C_miss)), Cllr and min Cllr (after the
    best monotone map, PAV). For raw cosine scores these show how far from LLRs they are; after
    calibrate-scores, actDCF close to minDCF means the threshold can be chosen from the prior.

    \b
    Examples:
      bccmt compute-metrics exp/x/scores/vox1_O.cosine
      bccmt compute-metrics --trials data/trials/vox1_O --json --out metrics.json \\
          --tag trials=vox1_O --tag backend=cosine --det-plot det.png scores.txt
    """
    from bccmt_tools.backend.metrics import compute_metrics, parse_p_targets
    from bccmt_tools.backend.scoring import labels_from_trials, read_scores
    from bccmt_tools.errors import BccmtError
    from bccmt_tools.io.atomic import atomic_write

    p_targets = parse_p_targets(p_target_text)
    scored = read_scores(scores)
    if trials:
        from bccmt_tools.io.trials import read_trials

        labels = labels_from_trials(scored, read_trials(trials), trials)
    elif scored.labels is not None:
        labels = scored.labels
    else:
        raise BccmtError(f"{scores}: no labels; give --trials with a labelled trial list")
    metrics = compute_metrics(scored.scores, labels, p_targets, c_miss, c_fa)
    metrics["scores"] = scores
    if trials:
        metrics["trials"] = trials
    metrics["tags"] = _parse_tags(tags)
    if det_plot:
        from bccmt_tools.backend.det import plot_det

        plot_det({metrics["tags"].get("backend", "scores"): (scored.scores, labels)}, det_plot, title=scores)
    if score_plot:
        from bccmt_tools.backend.score_plots import plot_scores

        plot_scores(scored.scores, labels, metrics, score_plot, name=metrics["tags"].get("backend", "scores"),
                    title=scores)
    text = json.dumps(metrics, indent=2) + "\n" if as_json else format_metrics(metrics)
    if out:
        with atomic_write(out) as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


def _parse_tags(tags):
    from bccmt_tools.errors import BccmtError

    parsed = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise BccmtError(f"--tag {tag!r}: expected KEY=VALUE")
        parsed[key] = value
    return parsed


def format_metrics(metrics):
    """Human-readable report of compute_metrics' dict."""
    lines = [f"EER: {metrics['eer_percent']:.4f}% (threshold {metrics['eer_threshold']:.6g})"]
    for name, dcf in metrics["min_dcf"].items():
        lines.append(f"minDCF(p_target={name}, c_miss={dcf['c_miss']:g}, c_fa={dcf['c_fa']:g}): "
                     f"{dcf['min_dcf']:.4f} (threshold {dcf['threshold']:.6g}, P_miss {dcf['p_miss']:.4f}, "
                     f"P_fa {dcf['p_fa']:.4f})")
    for name, act in metrics.get("act_dcf", {}).items():
        lines.append(f"actDCF(p_target={name}, c_miss={act['c_miss']:g}, c_fa={act['c_fa']:g}): "
                     f"{act['act_dcf']:.4f} (scores read as LLRs; Bayes threshold {act['threshold']:.6g}, "
                     f"P_miss {act['p_miss']:.4f}, P_fa {act['p_fa']:.4f})")
    if "cllr" in metrics:
        lines.append(f"Cllr: {metrics['cllr']:.4f} bits (min Cllr {metrics['min_cllr']:.4f}; scores read as LLRs)")
    lines.append(f"trials: {metrics['num_trials']} ({metrics['num_target']} target, "
                 f"{metrics['num_nontarget']} nontarget)")
    for kind in ("target", "nontarget"):
        stats = metrics[f"{kind}_scores"]
        lines.append(f"{kind} scores: mean {stats['mean']:.4g}, std {stats['std']:.4g}, "
                     f"min {stats['min']:.4g}, max {stats['max']:.4g}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    cli()
