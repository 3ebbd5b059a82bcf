"""Click options shared by the tools that read audio for verification (``verify``,
``extract-embeddings --input-type wav``): sample rate, channel, pipes and the speech check.

Each decorated command receives ``resample``, ``channel``, ``min_speech`` and ``vad_trim``;
``--no-pipes`` only sets ``BCCMT_NO_PIPES=1`` (see :mod:`bccmt_tools.io.pipes`).
"""

import click

from bccmt_tools.features.vad import DEFAULT_MIN_SPEECH
from bccmt_tools.io.pipes import no_pipes_option


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
