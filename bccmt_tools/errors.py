"""Errors the tools report as one clear line (file and key named), instead of a traceback."""

import click


class BccmtError(click.ClickException):
    """A user-facing error: bad input, a missing file or key, inconsistent data.

    Raised anywhere in the library; click prints ``Error: <message>`` and exits with status 1.

    >>> raise BccmtError("data/test/wav.scp: key 'utt1': file not found: /x/utt1.wav")
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: data/test/wav.scp: key 'utt1': file not found: /x/utt1.wav
    """
