"""Train an LDA (+ whitening) transform on embeddings with speaker labels."""

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--utt2spk", type=click.Path(dir_okay=False), required=True, help="Speaker of every embedding.")
@click.option("--dim", type=int, default=None,
              help="Output dimension (default: min(embedding dim, speakers - 1)).")
@click.option("--whiten/--no-whiten", default=True, show_default=True,
              help="Whiten the projected training data (identity total covariance).")
@click.argument("rspec")
@click.argument("lda_out", type=click.Path(dir_okay=False))
def cli(utt2spk, dim, whiten, rspec, lda_out):
    """Fit mean subtraction + LDA to --dim (+ whitening) on RSPEC; save to LDA_OUT (.npz).

    \b
    Example:
      bccmt train-lda --utt2spk data/train/utt2spk --dim 128 scp:emb/train/xvector.scp exp/x/plda/lda.npz
    """
    from bccmt_tools.backend.embeddings import labelled_matrix, load_embeddings
    from bccmt_tools.backend.lda import train_lda
    from bccmt_tools.io.atomic import check_writable
    from bccmt_tools.io.datadir import read_utt2spk

    check_writable(lda_out, "LDA model")  # before the work
    matrix, labels = labelled_matrix(load_embeddings(rspec), read_utt2spk(utt2spk), utt2spk)
    lda = train_lda(matrix, labels, dim=dim, whiten=whiten, where=rspec)
    lda.save(lda_out)
    click.echo(f"train-lda: {lda.input_dim} -> {lda.output_dim} dims from {matrix.shape[0]} embeddings "
               f"of {len(set(labels.tolist()))} speakers", err=True)


if __name__ == "__main__":
    cli()
