"""Kaldi pipes in tables (``wav.scp`` / ``feats.scp`` values such as ``sox a.wav -t wav - |``).

A value ending (or starting) with ``|`` is a shell command: reading the entry runs it through
``/bin/sh``, as in Kaldi. That is convenient for your own data and dangerous for a data dir from
elsewhere, whose ``wav.scp`` can run any command. ``BCCMT_NO_PIPES=1`` in the environment (or the
``--no-pipes`` option of the tools that read tables) makes every such entry an error instead;
it is inherited by DataLoader workers and recipe jobs.

>>> is_pipe("sox a.wav -t wav - |"), is_pipe("/data/a.wav"), is_pipe("| gunzip -c feats.ark.gz")
(True, False, True)
>>> runs_command("gunzip -c f.ark.gz |:26"), runs_command("cmd |[0:10]"), runs_command("f.ark:26[0:10]")
(True, True, False)
>>> import os; os.environ[NO_PIPES_ENV] = "1"
>>> check_pipe_allowed("rm -rf ~ |", "data/x/wav.scp: key 'u1'")
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: data/x/wav.scp: key 'u1': refusing to run the command 'rm -rf ~ |' (pipes are turned off by --no-pipes / BCCMT_NO_PIPES=1; list the audio file itself)
>>> del os.environ[NO_PIPES_ENV]
"""

import os

from bccmt_tools.errors import BccmtError

NO_PIPES_ENV = "BCCMT_NO_PIPES"


def is_pipe(entry):
    """True for a Kaldi pipe: a command whose output is read (``cmd |``) or, for kaldiio, ``| cmd``."""
    entry = entry.strip()
    return entry.endswith("|") or entry.startswith("|")


def _archive_part(entry):
    """The file part of a table value as kaldiio reads it: ``[...]`` slices, then ``:offset`` removed."""
    name = entry.strip()
    if "[" in name and name.endswith("]"):
        name = name[:name.rindex("[")]
    head, colon, offset = name.rpartition(":")
    if colon and offset.strip().isdigit():
        name = head
    return name


def runs_command(entry):
    """True when reading ``entry`` would run a shell command: a pipe, or an archive reference
    (``cmd |:offset``, ``cmd |[slice]``) whose archive is a pipe (kaldiio opens it through /bin/sh)."""
    return is_pipe(entry) or is_pipe(_archive_part(entry))


def pipes_allowed():
    """False when ``BCCMT_NO_PIPES`` is set to anything but ``""`` or ``0``."""
    return os.environ.get(NO_PIPES_ENV, "").strip() in ("", "0")


def refuse_pipes():
    """Turn pipes off for this process and the processes it starts."""
    os.environ[NO_PIPES_ENV] = "1"


def check_pipe_allowed(entry, where=""):
    """Raise a one-line :class:`BccmtError` when reading ``entry`` (a table value or a file name of
    an rspecifier) would run a command (:func:`runs_command`) and pipes are turned off."""
    if runs_command(entry) and not pipes_allowed():
        prefix = f"{where}: " if where else ""
        raise BccmtError(f"{prefix}refusing to run the command {entry.strip()!r} (pipes are turned off by "
                         f"--no-pipes / {NO_PIPES_ENV}=1; list the audio file itself)")

