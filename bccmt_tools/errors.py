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


def skip_or_raise(key, error, on_error):
    """Hand ``error`` about entry ``key`` to ``on_error(key, error)`` (the caller then skips the
    entry, as ``--skip-bad`` asks), or raise it when there is no handler."""
    if on_error is None:
        raise error
    on_error(key, error)


def warn(message):
    """Print ``WARNING: message`` on stderr: a problem worth knowing that does not stop the tool."""
    import sys

    print(f"WARNING: {message}", file=sys.stderr)
