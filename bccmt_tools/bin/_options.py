"""Click options shared by several tools, in one place (``_`` keeps this module out of the tool list).

* :func:`audio_input_options`: the tools that read audio for verification (``verify``,
  ``extract-embeddings --input-type wav``): sample rate, channel, pipes and the speech check; each
  decorated command receives ``resample``, ``channel``, ``min_speech`` and ``vad_trim``.
* :func:`no_pipes_option`: ``--no-pipes`` only sets ``BCCMT_NO_PIPES=1`` (see :mod:`bccmt_tools.io.pipes`).
* :func:`quality_options` and :func:`read_quality_sources`: the calibration's quality measures
  (``train-calibration``, ``calibrate-scores``).
* :func:`overwrite_option`: the tools that write a data dir (see
  :func:`bccmt_tools.io.datadir_ops.refuse_existing_output`).
"""

import click

from bccmt_tools.features.vad import DEFAULT_MIN_SPEECH
from bccmt_tools.io.pipes import NO_PIPES_ENV, refuse_pipes


def no_pipes_option(command):
    """The ``--no-pipes`` click option: sets ``BCCMT_NO_PIPES=1`` for the run."""

    def turn_off(_ctx, _param, value):
        if value:
            refuse_pipes()

    return click.option("--no-pipes", is_flag=True, expose_value=False, callback=turn_off,
                        help="Refuse wav.scp/feats.scp entries that are shell commands ('cmd |'), which "
                             "otherwise run through /bin/sh: use it for data from elsewhere (or set "
                             f"{NO_PIPES_ENV}=1).")(command)


def audio_input_options(command):
    """Add --resample, --channel, --min-speech, --vad-trim and --no-pipes to a click command."""
    options = [
        click.option("--resample", is_flag=True,
                     help="Resample audio whose rate differs from the model's (else such audio is an error)."),
        click.option("--channel", type=click.IntRange(min=0), default=None,
                     help="Channel (0-based) of multi-channel audio to use (else such audio is an error)."),
        click.option("--min-speech", type=click.FloatRange(min=0.0), default=DEFAULT_MIN_SPEECH, show_default=True,
                     metavar="SECONDS",
                     help="Refuse audio with less speech than this (energy VAD, Kaldi compute-vad style): "
                          "silence or a near-empty clip must not be accepted as anybody. 0 turns the check off."),
        click.option("--vad-trim", is_flag=True,
                     help="Embed only the voiced frames (energy VAD), e.g. for long recordings with pauses."),
    ]
    for option in reversed(options):
        command = option(command)
    return no_pipes_option(command)


def quality_options(command):
    """The options shared by train-calibration and calibrate-scores that give per-utterance quality values."""
    command = click.option("--enroll-spk2utt", type=click.Path(dir_okay=False), default=None,
                           help="Enrolment ids are speakers of this spk2utt: durations add up, norms are "
                                "averaged.")(command)
    command = click.option("--embeddings", "embedding_rspecs", multiple=True, metavar="RSPEC",
                           help="Raw embeddings (e.g. scp:exp/x/embeddings/voxceleb1_test/xvector.scp) whose "
                                "L2 norms are the 'norm' quality measure (repeatable).")(command)
    command = click.option("--durations", "duration_files", multiple=True, type=click.Path(dir_okay=False),
                           help="'utt seconds' files (a data dir's utt2dur) for the 'duration' quality measure "
                                "(repeatable).")(command)
    return command


def read_quality_sources(duration_files, embedding_rspecs, enroll_spk2utt):
    """``(durations or None, norms or None, spk2utt or None)`` from the values of :func:`quality_options`."""
    from bccmt_tools.backend.calibration import embedding_norms, read_value_table
    from bccmt_tools.io.datadir import read_spk2utt

    durations = read_value_table(duration_files, "durations") if duration_files else None
    norms = embedding_norms(embedding_rspecs) if embedding_rspecs else None
    return durations, norms, (read_spk2utt(enroll_spk2utt) if enroll_spk2utt else None)


def overwrite_option(command):
    """The ``--overwrite`` click option of the tools that write a data dir (see
    :func:`~bccmt_tools.io.datadir_ops.refuse_existing_output`)."""
    return click.option("--overwrite", is_flag=True,
                        help="Replace OUT_DIR when it is already a data dir (otherwise an error); the old "
                             "one is kept as OUT_DIR.backup.")(command)
