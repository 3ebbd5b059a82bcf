"""Is one system better than another on a trial list? Relative EER change with a bootstrap interval."""

import json

import click

from bccmt_tools.errors import BccmtError


def _aligned_scores(paths, trials, where):
    """One score array per file, in the order of ``trials`` (every trial must be scored)."""
    import numpy as np

    from bccmt_tools.backend.scoring import read_scores

    runs = []
    for path in paths:
        scored = read_scores(path)
        by_pair = dict(zip(zip(scored.enroll, scored.test), scored.scores.tolist()))
        missing = [(t.enroll, t.test) for t in trials if (t.enroll, t.test) not in by_pair]
        if missing:
            raise BccmtError(f"{path}: {len(missing)} trial(s) of {where} are not scored, e.g. {' '.join(missing[0])}")
        runs.append(np.array([by_pair[(t.enroll, t.test)] for t in trials]))
    return runs


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--trials", "trials_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Labelled trial list (any of the three formats).")
@click.option("--utt2spk", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Speaker of every enrolment utterance (the bootstrap resamples speakers).")
@click.option("--old", "old_paths", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="Score file of the reference system; repeat once per training seed.")
@click.option("--new", "new_paths", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="Score file of the system tested against it; repeat once per seed.")
@click.option("--num-bootstrap", type=click.IntRange(min=100), default=2000, show_default=True)
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed (same seed, same interval).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def cli(trials_path, utt2spk, old_paths, new_paths, num_bootstrap, confidence, seed, as_json):
    """Relative EER change of --new against --old, with a confidence interval from a two-level
    bootstrap: the trial list's speakers and the systems' seeds are resampled together
    (bccmt_tools/backend/significance.py). An interval that contains 0 means the difference is
    not resolved by this trial list and these seeds.

    \b
    Examples:
      bccmt compare-systems --trials data/trials/vox1_O --utt2spk data/voxceleb1_test/utt2spk \\
          --old exp/a_s1/scores/vox1_O.cosine --old exp/a_s2/scores/vox1_O.cosine \\
          --new exp/b_s1/scores/vox1_O.cosine --new exp/b_s2/scores/vox1_O.cosine
    """
    import numpy as np

    from bccmt_tools.backend.significance import eer_interval, relative_eer_change, verdict
    from bccmt_tools.io.datadir import read_utt2spk
    from bccmt_tools.io.trials import read_trials

    trials = read_trials(trials_path)
    if any(t.label is None for t in trials):
        raise BccmtError(f"{trials_path}: every trial needs a label")
    spk_of = read_utt2spk(utt2spk)
    unknown = [t.enroll for t in trials if t.enroll not in spk_of]
    if unknown:
        raise BccmtError(f"{utt2spk}: enrolment utterance {unknown[0]!r} of {trials_path} has no speaker")
    labels = np.array([t.label for t in trials])
    speakers = np.array([spk_of[t.enroll] for t in trials])
    old = _aligned_scores(old_paths, trials, trials_path)
    new = _aligned_scores(new_paths, trials, trials_path)
    options = dict(num_bootstrap=num_bootstrap, confidence=confidence, seed=seed)
    change = relative_eer_change(new, old, labels, speakers, **options)
    old_ci = eer_interval(old, labels, speakers, **options)
    new_ci = eer_interval(new, labels, speakers, **options)
    result = {
        "trials": trials_path, "num_trials": len(trials), "num_speakers": int(len(set(speakers.tolist()))),
        "old": {"files": list(old_paths), "eer": old_ci.value, "low": old_ci.low, "high": old_ci.high},
        "new": {"files": list(new_paths), "eer": new_ci.value, "low": new_ci.low, "high": new_ci.high},
        "relative_change": change.change, "low": change.low, "high": change.high,
        "confidence": confidence, "replicates": change.replicates, "verdict": verdict(change),
    }
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    level = f"{round(confidence * 100)}%"
    click.echo(f"{trials_path}: {len(trials)} trials, {result['num_speakers']} enrolment speakers; "
               f"{change.replicates} bootstrap replicates over speakers and seeds")
    for name, ci, paths in (("old", old_ci, old_paths), ("new", new_ci, new_paths)):
        click.echo(f"{name}: EER {ci.value:.2%} ({level} interval {ci.low:.2%}-{ci.high:.2%}), {len(paths)} seed(s)")
    click.echo(f"relative EER change new vs old: {change.change:+.1%} ({level} interval {change.low:+.1%} to "
               f"{change.high:+.1%}): {verdict(change)}")
