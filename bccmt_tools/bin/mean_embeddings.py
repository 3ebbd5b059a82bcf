"""Average embeddings per speaker (spk2utt) and optionally write a global mean vector."""

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--spk2utt", type=click.Path(dir_okay=False), required=True,
              help="Speaker (or enrolment id) -> utterances to average.")
@click.option("--normalize/--no-normalize", default=False, show_default=True,
              help="Length-normalise each utterance embedding before averaging. Off by default: raw "
                   "means live in the same space as the raw embeddings and the --global-mean-out "
                   "vector, so `score --mean-vector` treats cohort and trial sides alike (a raw "
                   "global mean subtracted from unit-norm means would swamp them).")
@click.option("--num-utts-out", type=click.Path(dir_okay=False), default=None,
              help="Write 'speaker num_utts' lines (Kaldi's num_utts.ark) here.")
@click.option("--global-mean-out", type=click.Path(dir_okay=False), default=None,
              help="Write the mean of all (raw) utterance embeddings as one Kaldi vector (for score --mean-vector).")
@click.option("--skip-missing", is_flag=True,
              help="Leave out utterances without an embedding (warning) instead of stopping.")
@click.argument("rspec")
@click.argument("wspec")
def cli(spk2utt, normalize, num_utts_out, global_mean_out, skip_missing, rspec, wspec):
    """Write the mean embedding of every speaker in --spk2utt from RSPEC to WSPEC.

    \b
    Examples:
      bccmt mean-embeddings --spk2utt data/train/spk2utt --num-utts-out emb/num_utts.ark \\
          --global-mean-out emb/mean.vec scp:emb/xvector.scp ark,scp:emb/spk_xvector.ark,emb/spk_xvector.scp
    """
    from bccmt_tools.backend.embeddings import load_embeddings, speaker_means, write_vector
    from bccmt_tools.io.atomic import atomic_write
    from bccmt_tools.io.datadir import read_spk2utt
    from bccmt_tools.io.kaldi_table import TableWriter

    table = load_embeddings(rspec)
    means = speaker_means(table, read_spk2utt(spk2utt), normalize_first=normalize,
                          skip_missing=skip_missing, where=spk2utt)
    with TableWriter(wspec) as writer:
        for key, vector in zip(means.keys, means.matrix):
            writer[key] = vector.astype("float32")
    if num_utts_out:
        with atomic_write(num_utts_out) as handle:
            handle.writelines(f"{key} {int(count)}\n" for key, count in zip(means.keys, means.counts))
    if global_mean_out:
        write_vector(global_mean_out, table.matrix.mean(axis=0))
    click.echo(f"mean-embeddings: {len(means)} speakers from {len(table)} embeddings", err=True)


if __name__ == "__main__":
    cli()
