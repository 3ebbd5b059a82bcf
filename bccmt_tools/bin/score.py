"""Score a trial list with cosine, AS-norm or PLDA back-ends (vectorised, chunked)."""

import click

from bccmt_tools.backend.backends import backend_names, describe_backends, get_backend
from bccmt_tools.backend.linalg import DEFAULT_CHUNK_SIZE
from bccmt_tools.backend.score_norm import DEFAULT_TOP_N

# Options that feed a back-end: ScoringInputs field -> option name.
BACKEND_OPTIONS = (("mean_vector", "--mean-vector"), ("cohort", "--cohort"), ("plda", "--plda"))


def _list_methods(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        click.echo("\n".join(backend_names()))
        ctx.exit()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--method", type=click.Choice(backend_names()), default="cosine", show_default=True,
              help="Back-end: " + "; ".join(describe_backends()) + ".")
@click.option("--list-methods", is_flag=True, expose_value=False, is_eager=True, callback=_list_methods,
              help="Print the back-end names, one a line, and exit (for scripts that score with each).")
@click.option("--mean-vector", type=click.Path(dir_okay=False), default=None,
              help="Vector subtracted from every embedding before cosine/AS-norm (e.g. the training "
                   "set's global mean from mean-embeddings --global-mean-out).")
@click.option("--cohort", "cohort_rspec", metavar="RSPEC", default=None,
              help="AS-norm cohort embeddings (often speaker means of the training set).")
@click.option("--top-n", type=int, default=DEFAULT_TOP_N, show_default=True,
              help="AS-norm: number of highest cohort scores per side.")
@click.option("--plda", "plda_path", type=click.Path(dir_okay=False), default=None,
              help="PLDA model from train-plda (.npz; holds its LDA / length-norm chain).")
@click.option("--enroll-spk2utt", type=click.Path(dir_okay=False), default=None,
              help="Enrolment ids of the trials are keys of this spk2utt; their utterances are averaged.")
@click.option("--skip-missing", is_flag=True,
              help="Drop trials whose keys have no embedding (warning with a count) instead of stopping; with "
                   "--enroll-spk2utt, also average a speaker over the utterances that have one (counted).")
@click.option("--voxceleb-paths", is_flag=True,
              help="Trial keys are VoxCeleb paths (id10270/5r0dWxy17C8/00001.wav): map them to utterance ids.")
@click.option("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, show_default=True,
              help="Trials scored per vectorised chunk (bounds memory).")
@click.argument("trials", type=click.Path(dir_okay=False))
@click.argument("enroll_rspec")
@click.argument("test_rspec")
@click.argument("scores")
def cli(method, mean_vector, cohort_rspec, top_n, plda_path, enroll_spk2utt, skip_missing, voxceleb_paths, chunk_size,
        trials, enroll_rspec, test_rspec, scores):
    """Score TRIALS with enrolment embeddings ENROLL_RSPEC and test embeddings TEST_RSPEC; write
    'enroll test score [target|nontarget]' lines to SCORES ('-' for stdout).

    TRIALS may be '1|0 enroll test' (VoxCeleb), 'enroll test target|nontarget' (Kaldi) or
    'enroll test'; keys are utterance ids (VoxCeleb paths id/video/00001.wav become
    id-video-00001). Labels are copied into SCORES when the trials have them.

    \b
    Examples:
      bccmt score data/trials/vox1_O scp:exp/x/emb/test/xvector.scp \\
          scp:exp/x/emb/test/xvector.scp exp/x/scores/vox1_O.cosine
      bccmt score --method asnorm --cohort scp:exp/x/emb/train/spk_xvector.scp --top-n 300 \\
          trials.txt scp:emb.scp scp:emb.scp scores.txt
      bccmt score --method plda --plda exp/x/plda/plda.npz trials.txt scp:emb.scp scp:emb.scp -
      bccmt score --enroll-spk2utt enroll/spk2utt my_trials scp:enroll.scp scp:test.scp -
      for method in $(bccmt score --list-methods); do echo "$method"; done
    """
    from bccmt_tools.backend.embeddings import load_embeddings, read_vector
    from bccmt_tools.backend.scoring import score_trials, write_scores
    from bccmt_tools.errors import BccmtError
    from bccmt_tools.io.datadir import read_spk2utt
    from bccmt_tools.io.trials import read_trials

    given = {"mean_vector": mean_vector, "cohort": cohort_rspec, "plda": plda_path}
    for field, option in BACKEND_OPTIONS:
        if given[field] and field not in get_backend(method).uses:
            users = " or ".join(name for name in backend_names() if field in get_backend(name).uses)
            raise BccmtError(f"{option} does not apply to --method {method} (it goes with --method {users})")
    if chunk_size < 1:
        raise BccmtError("--chunk-size must be at least 1")
    if plda_path:  # scipy comes with it: imported only when needed (a second of start-up)
        from bccmt_tools.backend.plda import Plda
    if scores != "-":  # written last: check it now, not after loading and scoring
        from bccmt_tools.io.atomic import check_writable

        check_writable(scores, "scores")
    if trials != "-":  # a file: read in chunks, scored and written in chunks (backend.score_stream)
        from bccmt_tools.backend.score_stream import score_trial_file

        enroll = load_embeddings(enroll_rspec)
        test = enroll if test_rspec == enroll_rspec else load_embeddings(test_rspec)
        written = score_trial_file(
            trials, enroll, test, scores, method,
            mean_vector=read_vector(mean_vector, enroll.dim) if mean_vector else None,
            cohort=load_embeddings(cohort_rspec) if cohort_rspec else None, top_n=top_n,
            plda=Plda.load(plda_path) if plda_path else None,
            enroll_spk2utt=read_spk2utt(enroll_spk2utt) if enroll_spk2utt else None,
            skip_missing=skip_missing, chunk_size=chunk_size, spk2utt_where=enroll_spk2utt or "enrolment spk2utt",
            map_voxceleb_paths=voxceleb_paths)
        click.echo(f"score: {written} trials scored with {method}", err=True)
        return
    trial_list = read_trials(trials, map_voxceleb_paths=voxceleb_paths)
    enroll = load_embeddings(enroll_rspec)
    test = enroll if test_rspec == enroll_rspec else load_embeddings(test_rspec)
    result = score_trials(
        trial_list, enroll, test, method, trials_where=trials,
        mean_vector=read_vector(mean_vector, enroll.dim) if mean_vector else None,
        cohort=load_embeddings(cohort_rspec) if cohort_rspec else None, top_n=top_n,
        plda=Plda.load(plda_path) if plda_path else None,
        enroll_spk2utt=read_spk2utt(enroll_spk2utt) if enroll_spk2utt else None,
        skip_missing=skip_missing, chunk_size=chunk_size, spk2utt_where=enroll_spk2utt or "enrolment spk2utt")
    write_scores(scores, result)
    click.echo(f"score: {len(result.scores)} trials scored with {method}", err=True)


if __name__ == "__main__":
    cli()
