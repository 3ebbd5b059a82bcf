"""Train a speaker embedding model (AAM-softmax, optional attention-map distillation from a teacher)."""

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Training YAML (see egs/voxceleb/conf/train/); every key is checked against the defaults.")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="Training data dir: feats.scp (or wav.scp with --data-type raw) and utt2spk.")
@click.option("--exp", "exp_dir", type=click.Path(file_okay=False),
              help="Experiment dir: config.yaml, checkpoints/epoch_NNNN.pt, log/train.log (required to train).")
@click.option("--teacher", "teacher_dir", default=None, type=click.Path(file_okay=False),
              help="Teacher exp dir (its config.yaml + avg_model.pt or newest checkpoint): enables KD.")
@click.option("--init-from", "init_dir", default=None, type=click.Path(file_okay=False, exists=True),
              help="Start from this trained exp dir (e.g. large-margin fine-tuning): its config.yaml with --config "
                   "laid over it, its avg_model.pt weights (and classifier, same speakers) as the starting point.")
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --exp (fresh start if none).")
@click.option("--overwrite", is_flag=True,
              help="Start over in an --exp that holds a trained model: deletes everything in it first "
                   "(checkpoints/, avg_model.pt, model.onnx, log/, embeddings, scores, ...).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="Default: cuda when available, else cpu. Under torchrun each process takes its local GPU.")
@click.option("--data-type", type=click.Choice(["feats", "raw"]), default=None,
              help="Override data.type: feats (feats.scp crops) or raw (wav.scp, on-the-fly fbank + augmentation).")
@click.option("--seed", type=int, default=None, help="Override trainer.seed.")
@click.option("--num-workers", type=int, default=None, help="Override data.num_workers (DataLoader workers).")
@click.option("--epochs", type=int, default=None, help="Override trainer.epochs.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override any config key, e.g. --set optim.lr=0.002 --set data.batch_size=64 (repeatable).")
@click.option("--stop-after", type=int, default=None,
              help="Stop after this many epochs of this run (for time-limited jobs); continue with --resume.")
@click.option("--num-threads", type=int, default=None, help="Torch intra-op CPU threads (default: torch's choice).")
@click.option("--no-progress", is_flag=True, help="No tqdm progress bar on stderr.")
@click.option("--print-config", is_flag=True,
              help="Print the fully resolved training config (YAML, as EXP/config.yaml would hold it) and exit.")
@click.pass_context
def cli(ctx, config_path, data_dir, exp_dir, teacher_dir, init_dir, resume, overwrite, device, data_type, seed,
        num_workers, epochs, overrides, stop_after, num_threads, no_progress, print_config):
    """Train the model of --config on --data into --exp.

    Writes the fully resolved config to EXP/config.yaml, one checkpoint per epoch to
    EXP/checkpoints/ (the last trainer.keep_checkpoints kept) and per-epoch lines (each loss term,
    accuracy, LR, samples/s) to EXP/log/train.log. Under torchrun it trains with DDP (gloo on CPU,
    nccl on GPU); only rank 0 logs and saves.

    An --exp that already holds a trained model (checkpoints, avg_model.pt, model.onnx) is
    refused unless --resume (continue it) or --overwrite (delete it and start over) is given:
    a fresh run would otherwise replace its checkpoints and leave its old averaged model and
    exports beside the new config. The training data needs at least 2 speakers.

    Trained on feats.scp, the model expects the features they were computed with: the config's
    features section comes from DATA/conf/fbank.yaml (written with feats.scp by
    utils/make_fbank.sh), and an fbank option the config also gives must agree with it (else an
    error naming both values). Data dirs without that file use the built-in fbank defaults.

    \b
    Examples:
      bccmt train --config conf/train/teacher_base_mini.yaml --data data/train --exp exp/teacher_base
      bccmt average-model --exp exp/teacher_base --num 3
      bccmt train --config conf/train/student_tiny_kd_mini.yaml --data data/train \\
          --exp exp/student_tiny_kd --teacher exp/teacher_base
      torchrun --standalone --nproc-per-node 4 $(command -v bccmt) train \\
          --config conf/train/teacher_base_full.yaml \\
          --data data/train --exp exp/teacher_base --device cuda
      bccmt train --init-from exp/teacher_base --config conf/train/lmft_mini.yaml \\
          --data data/train --exp exp/teacher_base_lmft        # large-margin fine-tuning
      bccmt train --config conf/train/tiny_mini.yaml --data data/train --print-config
    """
    import contextlib
    import os

    import torch

    from bccmt_tools.io.expdir import experiment_lock
    from bccmt_tools.train.start import prepare_exp_dir, run_config, train

    extra = list(overrides)
    for key, value in (("data.type", data_type), ("trainer.seed", seed), ("data.num_workers", num_workers),
                       ("trainer.epochs", epochs)):
        if value is not None:
            extra.append(f"{key}={value}")
    if print_config:
        from bccmt_tools.train.config import dump_config, experiment_config

        click.echo(dump_config(experiment_config(run_config(config_path, data_dir, extra, init_dir), teacher_dir)),
                   nl=False)
        return
    if exp_dir is None:
        raise click.MissingParameter(ctx=ctx, param=next(p for p in ctx.command.params if p.name == "exp_dir"))
    rank0 = os.environ.get("RANK", "0") == "0"  # torchrun: rank 0 locks and clears for all ranks
    # One training per experiment at a time.
    lock = experiment_lock(exp_dir) if rank0 else contextlib.nullcontext()
    with lock:
        removed = prepare_exp_dir(exp_dir, resume, overwrite, (("--teacher", teacher_dir), ("--init-from", init_dir)),
                                  clear=rank0)
        if removed:
            click.echo(f"train: --overwrite: removed {len(removed)} entries from {exp_dir} "
                       f"({', '.join(removed[:6])}{', ...' if len(removed) > 6 else ''})", err=True)
        config = run_config(config_path, data_dir, extra, init_dir)
        if num_threads:
            torch.set_num_threads(num_threads)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        train(config, data_dir, exp_dir, teacher_dir=teacher_dir, init_dir=init_dir, resume=resume, device=device,
              stop_after=stop_after, show_progress=not no_progress)
