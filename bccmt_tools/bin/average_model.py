"""Average the last N epoch checkpoints of an experiment into avg_model.pt."""

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--exp", "exp_dir", required=True, type=click.Path(file_okay=False, exists=True),
              help="Experiment dir with checkpoints/epoch_NNNN.pt.")
@click.option("--num", type=int, default=5, show_default=True, help="How many of the newest checkpoints to average.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Output file (default: EXP/avg_model.pt).")
def cli(exp_dir, num, out_path):
    """Average the "model" (and classifier) weights of the last --num epoch checkpoints.

    Floating-point tensors are averaged; integer buffers (BatchNorm's num_batches_tracked) come
    from the newest checkpoint. The output holds "model", "classifier", "config", "spk2id" and
    "averaged" (the checkpoint names) and is written atomically.

    \b
    Example:
      bccmt average-model --exp exp/teacher_base --num 3
    """
    from bccmt_tools.io.atomic import check_writable
    from bccmt_tools.io.expdir import averaged_path, refuse_overwriting
    from bccmt_tools.train.checkpoint import average_checkpoints, save_checkpoint

    out_path = out_path or averaged_path(exp_dir)
    refuse_overwriting(out_path, exp_dir, averaged_path(exp_dir))
    check_writable(out_path, "averaged model")  # before loading the checkpoints
    result = average_checkpoints(exp_dir, num)
    save_checkpoint(result, out_path)
    click.echo(f"averaged {', '.join(result['averaged'])} -> {out_path}", err=True)
