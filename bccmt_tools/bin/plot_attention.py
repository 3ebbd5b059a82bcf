"""Draw teacher and student self-attention maps of one utterance side by side, paired as in KD, with their KL."""

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--teacher", "teacher_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Teacher experiment dir (config.yaml + avg_model.pt or newest checkpoint); default: the "
                   "teacher the student was distilled from (its config's kd.teacher).")
@click.option("--student", "student_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Student experiment dir; its features config (and kd.attention settings) are used.")
@click.option("--teacher-checkpoint", default=None, type=click.Path(dir_okay=False),
              help="Teacher checkpoint (default: TEACHER/avg_model.pt, else the newest epoch).")
@click.option("--student-checkpoint", default=None, type=click.Path(dir_okay=False),
              help="Student checkpoint (e.g. an early epoch, to see the maps before they learned).")
@click.option("--wav", "wav", required=True, help="Audio file (or wav.scp entry) of one utterance.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Image to write (.png, .svg or .pdf).")
@click.option("--seconds", type=float, default=3.0, show_default=True,
              help="Use the first SECONDS of the audio (0: all of it); long maps are unreadable.")
@click.option("--head", type=int, default=None, help="Show this head (0-based) instead of the mean over heads.")
@click.option("--resize-teacher/--no-resize-teacher", default=None,
              help="Average-pool finer teacher maps to the student's shape (default: the student's "
                   "kd.attention.resize_teacher).")
def cli(teacher_dir, student_dir, teacher_checkpoint, student_checkpoint, wav, out, seconds, head, resize_teacher):
    """Run teacher and student on one utterance and draw, per stage, each student block's
    self-attention map beside the teacher block the attention-map distillation matches it
    with (student block j of d_S <- teacher block ceil((j + 1) * d_T / d_S) - 1), with the
    pair's loss (KL(teacher || student) unless the student was trained with kd.attention.kind
    mse). Rows share one colour scale per pair; axes are query and key frames of that stage.

    \b
    Examples:
      bccmt plot-attention --teacher exp/teacher_base_mini --student exp/student_tiny_kd_mini \\
          --wav ../shared/data/minivox/voxceleb1/wav/id10270/5r0dWxy17C8/00001.wav \\
          --out exp/student_tiny_kd_mini/attention.png
      bccmt plot-attention --student exp/student_tiny_kd_mini \\
          --student-checkpoint exp/student_tiny_kd_mini/checkpoints/epoch_0001.pt --wav a.wav --out early.png
    """
    import os

    import torch

    from bccmt_tools.errors import BccmtError
    from bccmt_tools.features.frontend import fbank_function
    from bccmt_tools.features.settings import parse_features
    from bccmt_tools.io.audio import read_audio
    from bccmt_tools.io.expdir import config_path
    from bccmt_tools.models.experiment import load_model_from_exp
    from bccmt_tools.train.attention_view import matched_attention, plot_attention
    from bccmt_tools.train.teacher import check_features_match

    torch.set_num_threads(1)
    student, student_config = load_model_from_exp(student_dir, student_checkpoint)
    if teacher_dir is None:
        teacher_dir = (student_config.get("kd") or {}).get("teacher")
        if not teacher_dir:
            raise BccmtError(f"{student_dir}/config.yaml: key 'kd.teacher' is empty (the student was not "
                             "distilled); give --teacher")
    teacher, teacher_config = load_model_from_exp(teacher_dir, teacher_checkpoint)
    check_features_match(student_config.get("features") or {}, teacher_config.get("features") or {}, teacher_dir)
    fbank, cmn = parse_features(student_config.get("features"), str(config_path(student_dir)))
    samples = read_audio(wav, fbank.sample_rate, where=f"--wav {wav}")
    if seconds and seconds > 0:
        samples = samples[:int(seconds * fbank.sample_rate)]
    feats = fbank_function("torchaudio")(samples, fbank)
    if feats.shape[0] < 8:
        raise BccmtError(f"--wav {wav}: {feats.shape[0]} frames is too short to show attention maps")
    if cmn:
        feats = feats - feats.mean(axis=0, keepdims=True)
    attention = (student_config.get("kd") or {}).get("attention") or {}
    kind = attention.get("kind", "kl")
    if resize_teacher is None:
        resize_teacher = bool(attention.get("resize_teacher", False))
    pairs = matched_attention(teacher, student, feats, kind=kind, last_only=bool(attention.get("last_only", False)),
                              resize_teacher=resize_teacher)
    title = (f"teacher {os.path.basename(os.path.normpath(teacher_dir))} vs student "
             f"{os.path.basename(os.path.normpath(student_dir))}: {os.path.basename(wav)} "
             f"({feats.shape[0]} frames)")
    mean = plot_attention(pairs, out, head=head, title=title, kind=kind)
    for pair in pairs:
        click.echo(f"stage {pair.stage} student block {pair.student_block} <- teacher block {pair.teacher_block}: "
                   f"{kind} {pair.loss:.4f}")
    click.echo(f"plot-attention: {len(pairs)} pairs, mean {kind} {mean:.4f} -> {out}", err=True)


if __name__ == "__main__":
    cli()
