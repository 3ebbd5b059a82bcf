"""Fit a score calibration (score -> log-likelihood ratio, optional quality measures) on labelled scores."""

import click

from bccmt_tools.bin._options import quality_options, read_quality_sources


def labelled_scores(scores_path, trials_path):
    """``(ScoredTrials, labels)`` of a score file, labels from the file or from ``trials_path``."""
    from bccmt_tools.backend.scoring import labels_from_trials, read_scores
    from bccmt_tools.errors import BccmtError
    from bccmt_tools.io.trials import read_trials

    scored = read_scores(scores_path)
    if trials_path:
        return scored, labels_from_trials(scored, read_trials(trials_path), trials_path)
    if scored.labels is None:
        raise BccmtError(f"{scores_path}: no labels; give --trials with a labelled trial list")
    return scored, scored.labels


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--trials", type=click.Path(dir_okay=False), default=None,
              help="Take labels from this trial list instead of the score file.")
@click.option("--prior", type=float, default=0.01, show_default=True,
              help="Target prior the fit is weighted for (0.5: plain Cllr). Use the P_target you decide at; "
                   "the LLRs stay usable at other priors.")
@quality_options
@click.argument("scores", type=click.Path(dir_okay=False))
@click.argument("calibration_out", type=click.Path(dir_okay=False))
def cli(trials, prior, duration_files, embedding_rspecs, enroll_spk2utt, scores, calibration_out):
    """Fit llr = a * score + b (+ quality terms) on the labelled SCORES by minimising the
    prior-weighted logistic cost (Cllr at --prior 0.5); write it as JSON to CALIBRATION_OUT.

    Train on a trial list of speakers disjoint from those you will test (e.g. one drawn with
    make-trials from data/voxceleb1_dev), scored with the same model and back-end. Then
    calibrate-scores applies it, and verify --calibration decides at the Bayes threshold.

    \b
    Examples:
      bccmt make-trials --seed 7 data/voxceleb1_dev data/trials/vox1_dev_cal
      bccmt score data/trials/vox1_dev_cal scp:emb/dev.scp scp:emb/dev.scp scores/vox1_dev_cal.cosine
      bccmt train-calibration scores/vox1_dev_cal.cosine exp/x/calibration/cosine.json
      bccmt train-calibration --durations data/voxceleb1_dev/utt2dur \\
          --embeddings scp:emb/dev.scp scores/vox1_dev_cal.cosine cosine_qmf.json
    """
    from bccmt_tools.backend.calibration import quality_features, train_calibration

    scored, labels = labelled_scores(scores, trials)
    durations, norms, spk2utt = read_quality_sources(duration_files, embedding_rspecs, enroll_spk2utt)
    measures = [name for name, table in (("duration", durations), ("norm", norms)) if table is not None]
    quality = quality_features(measures, scored.enroll, scored.test, durations, norms, scores, spk2utt)
    calibration = train_calibration(scored.scores, labels, prior=prior, quality=quality, where=scores)
    calibration.info["scores"] = scores
    calibration.save(calibration_out)
    info = calibration.info
    terms = "".join(f" + quality {name} {weights}" for name, weights in calibration.quality.items())
    click.echo(f"train-calibration: {info['num_target']} target / {info['num_nontarget']} nontarget trials; "
               f"llr = {calibration.score_weight:.6g} * score + {calibration.offset:.6g}{terms}; "
               f"Cllr {info['cllr_before']:.4f} -> {info['cllr']:.4f} (min Cllr {info['min_cllr']:.4f}); "
               f"written to {calibration_out}", err=True)
    if info["constant_features"]:
        click.echo(f"train-calibration: warning: constant over these trials, given weight 0: "
                   f"{', '.join(info['constant_features'])}", err=True)


if __name__ == "__main__":
    cli()
