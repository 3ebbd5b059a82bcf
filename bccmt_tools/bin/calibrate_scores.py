"""Apply a calibration (from train-calibration) to a score file: scores become log-likelihood ratios."""

import click

from bccmt_tools.bin._options import quality_options, read_quality_sources


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--calibration", "calibration_path", required=True, type=click.Path(dir_okay=False),
              help="JSON written by bccmt train-calibration.")
@quality_options
@click.argument("scores", type=click.Path(dir_okay=False))
@click.argument("llrs_out", type=click.Path(dir_okay=False, allow_dash=True))
def cli(calibration_path, duration_files, embedding_rspecs, enroll_spk2utt, scores, llrs_out):
    """Write SCORES ('enroll test score [label]') with each score replaced by its calibrated
    log-likelihood ratio to LLRS_OUT ('-' for stdout); labels are kept.

    A calibration fitted with quality measures needs the same measures here (--durations,
    --embeddings) for the utterances of SCORES. Accept a trial at prior P_target when
    llr >= log((1 - P_target) / P_target * C_fa / C_miss) (4.595 for P_target 0.01).

    \b
    Examples:
      bccmt calibrate-scores --calibration exp/x/calibration/cosine.json \\
          exp/x/scores/vox1_O.cosine exp/x/scores/vox1_O.cosine_cal
      bccmt compute-metrics exp/x/scores/vox1_O.cosine_cal     # actDCF now close to minDCF
    """
    from bccmt_tools.backend.calibration import Calibration, quality_features
    from bccmt_tools.backend.scoring import ScoredTrials, read_scores, write_scores

    calibration = Calibration.load(calibration_path)
    scored = read_scores(scores)
    durations, norms, spk2utt = read_quality_sources(duration_files, embedding_rspecs, enroll_spk2utt)
    quality = quality_features(calibration.measures, scored.enroll, scored.test, durations, norms, scores, spk2utt)
    llrs = calibration.llr(scored.scores, quality, scores)
    write_scores(llrs_out, ScoredTrials(scored.enroll, scored.test, llrs, scored.labels))
    if llrs_out != "-":
        click.echo(f"calibrate-scores: {len(llrs)} scores -> LLRs ({calibration_path}) in {llrs_out}", err=True)


if __name__ == "__main__":
    cli()
