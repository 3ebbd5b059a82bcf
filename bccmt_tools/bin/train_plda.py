"""Train a two-covariance PLDA by EM (optionally after LDA and length normalisation)."""

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--utt2spk", type=click.Path(dir_okay=False), required=True, help="Speaker of every embedding.")
@click.option("--lda", "lda_path", type=click.Path(dir_okay=False), default=None,
              help="LDA from train-lda, applied first and stored inside the PLDA model.")
@click.option("--length-norm/--no-length-norm", default=True, show_default=True,
              help="Length-normalise (to sqrt(dim)) after the LDA, before PLDA.")
@click.option("--num-iters", type=int, default=10, show_default=True, help="EM iterations.")
@click.argument("rspec")
@click.argument("plda_out", type=click.Path(dir_okay=False))
def cli(utt2spk, lda_path, length_norm, num_iters, rspec, plda_out):
    """Train PLDA on embeddings RSPEC with speakers from --utt2spk; save to PLDA_OUT (.npz).

    The saved model carries its pre-processing chain (LDA, length normalisation), so
    'bccmt score --method plda --plda PLDA_OUT' applies it to raw embeddings.

    \b
    Example:
      bccmt train-lda --utt2spk data/train/utt2spk --dim 128 scp:emb/train/xvector.scp lda.npz
      bccmt train-plda --utt2spk data/train/utt2spk --lda lda.npz scp:emb/train/xvector.scp plda.npz
    """
    import numpy as np

    from bccmt_tools.backend.embeddings import labelled_matrix, load_embeddings
    from bccmt_tools.backend.lda import LinearTransform
    from bccmt_tools.backend.plda import train_plda
    from bccmt_tools.errors import BccmtError
    from bccmt_tools.io.datadir import read_utt2spk

    from bccmt_tools.io.atomic import check_writable

    if num_iters < 1:
        raise BccmtError("--num-iters must be at least 1")
    check_writable(plda_out, "PLDA model")  # before the work
    table = load_embeddings(rspec)
    matrix, labels = labelled_matrix(table, read_utt2spk(utt2spk), utt2spk)
    lda = LinearTransform.load(lda_path) if lda_path else None

    def progress(iteration, between, within):
        click.echo(f"train-plda: iteration {iteration}: trace(between) {np.trace(between):.4g}, "
                   f"trace(within) {np.trace(within):.4g}", err=True)

    plda = train_plda(matrix, labels, lda=lda, length_norm=length_norm, num_iters=num_iters,
                      progress=progress, keys=table.keys, where=rspec)
    plda.save(plda_out)
    click.echo(f"train-plda: {plda.mean.size}-dim PLDA from {matrix.shape[0]} embeddings of "
               f"{len(set(labels.tolist()))} speakers; largest psi {plda.psi[0]:.4g}", err=True)


if __name__ == "__main__":
    cli()
