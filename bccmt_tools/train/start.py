"""Starting a training run (``bccmt train``): what may happen to an experiment dir that already
holds a model (the resume / overwrite policy), the config of the run, and the run itself, with the
DDP process group torn down at its end, also on error.
"""

import os

from bccmt_tools.errors import BccmtError


def prepare_exp_dir(exp_dir, resume=False, overwrite=False, sources=(), clear=True):
    """Apply the policy to ``exp_dir``: an experiment holding a trained model is refused unless
    ``resume`` (continue it) or ``overwrite`` (delete everything in it first; only where ``clear``,
    i.e. on rank 0). ``sources`` are ``(option, dir)`` pairs the run reads from (--teacher,
    --init-from), which --overwrite must not delete. Returns the names --overwrite removed."""
    from bccmt_tools.train.checkpoint import clear_experiment, refuse_existing_experiment

    if resume and overwrite:
        raise BccmtError("give --resume (continue the run in --exp) or --overwrite (start over), not both")
    if overwrite:
        for option, other in sources:
            if other and os.path.realpath(other) == os.path.realpath(exp_dir):
                raise BccmtError(f"{exp_dir}: --overwrite would delete the model that {option} reads from it")
        return clear_experiment(exp_dir) if clear and os.path.isdir(exp_dir) else []
    if not resume:
        refuse_existing_experiment(exp_dir)
    return []


def run_config(config_path, data_dir=None, overrides=(), init_dir=None):
    """The resolved config of a run: ``config_path`` with ``key=value`` ``overrides``, laid over
    ``init_dir``'s config when given; features from ``data_dir``'s fbank record."""
    if init_dir:
        from bccmt_tools.features.record import read_fbank_record
        from bccmt_tools.train.init_from import check_init_dir, init_config

        check_init_dir(init_dir)
        return init_config(init_dir, config_path, overrides, read_fbank_record(data_dir) if data_dir else None)
    from bccmt_tools.train.config import load_config

    return load_config(config_path, overrides, data_dir=data_dir)


def train(config, data_dir, exp_dir, teacher_dir=None, init_dir=None, **options):
    """Train ``config`` on ``data_dir`` into ``exp_dir`` (``options`` go to the Trainer), from
    ``init_dir``'s weights unless resumed; the DDP process group is destroyed at the end, also on
    error."""
    from bccmt_tools.train import distributed
    from bccmt_tools.train.trainer import Trainer

    try:
        trainer = Trainer(config, data_dir, exp_dir, teacher_dir=teacher_dir, **options)
        if init_dir and trainer.resume_state is None:  # a resumed run continues from its own checkpoints
            from bccmt_tools.train.init_from import load_initial_weights

            trainer.log.write(load_initial_weights(trainer.objective, init_dir, trainer.dataset.spk2id))
        return trainer.run()
    finally:
        distributed.cleanup()
