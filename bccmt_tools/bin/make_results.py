"""Write or update RESULTS.md rows (EER, minDCF) from compute-metrics JSON files."""

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", default=None, help="Model name for rows whose JSON has no 'model' tag.")
@click.option("--trials", "trials_name", default=None, help="Trial-list name (default: JSON tag, else the trial file's name).")
@click.option("--backend", default=None, help="Back-end name (cosine, asnorm, plda, ...) when the JSON has no tag.")
@click.option("--checkpoint", default=None, help="Checkpoint the embeddings came from.")
@click.option("--config", "config_path", default=None, help="Experiment config (config.yaml).")
@click.option("--data", default=None, help="Data the back-end was trained on / embeddings came from.")
@click.option("--title", default="Results", show_default=True, help="Title of a new RESULTS.md.")
@click.option("--figure", "figures", multiple=True, metavar="LABEL=PATH",
              help="Also link this image (e.g. a plot-det figure) under the table; same label is replaced.")
@click.argument("results_md", type=click.Path(dir_okay=False))
@click.argument("metrics_json", nargs=-1, required=True, type=click.Path(dir_okay=False))
def cli(model, trials_name, backend, checkpoint, config_path, data, title, figures, results_md, metrics_json):
    """Add one row per METRICS_JSON to the table in RESULTS_MD (rows with the same model,
    trial list and back-end are replaced; other text in the file is kept). Metrics with actual
    DCF and Cllr (compute-metrics reports them) also get a row in a calibration table beside it.

    Row fields come from the JSON's tags (compute-metrics --tag key=value) and fall back to
    these options.

    \b
    Example:
      bccmt compute-metrics --json --out exp/x/scores/vox1_O.cosine.json \\
          --tag trials=vox1_O --tag backend=cosine exp/x/scores/vox1_O.cosine
      bccmt make-results --model x --checkpoint exp/x/avg_model.pt --config exp/x/config.yaml \\
          --data data/train exp/x/RESULTS.md exp/x/scores/*.json
      bccmt make-results --figure "vox1_O DET=exp/x/scores/vox1_O.det.png" exp/x/RESULTS.md exp/x/scores/*.json
    """
    from bccmt_tools.backend.results import (calibration_row, describe, load_metrics, parse_figure, results_row,
                                             update_calibration, update_figures, update_results)

    defaults = {"model": model, "trials": trials_name, "backend": backend, "checkpoint": checkpoint,
                "config": config_path, "data": data}
    rows, calibration_rows = [], []
    for path in metrics_json:
        metrics = load_metrics(path)
        fields = describe(metrics, defaults, path)
        rows.append(results_row(metrics, fields))
        calibration_rows.append(calibration_row(metrics, fields))
    update_results(results_md, rows, title=title)
    if any(calibration_rows):
        update_calibration(results_md, [cells for cells in calibration_rows if cells])
    if figures:
        update_figures(results_md, [parse_figure(text) for text in figures])
    click.echo(f"make-results: {len(rows)} row(s) written to {results_md}", err=True)


if __name__ == "__main__":
    cli()
