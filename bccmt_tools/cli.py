"""The ``bccmt`` command: a click group whose subcommands live in ``bccmt_tools/bin/``.

Each module ``bccmt_tools/bin/<name>.py`` defines a click command called ``cli``; it becomes
``bccmt <name-with-dashes>``. Modules are imported only when their command runs, so
``bccmt --help`` stays fast (no torch import).
"""

import errno
import importlib
import pkgutil

import click

from bccmt_tools import __version__, bin as _bin_package
from bccmt_tools.errors import BccmtError

#: Errors of the file system that a user fixes (space, permissions, names), not bugs.
FILE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
               errno.EFBIG, errno.ENOTDIR, errno.EISDIR}


def _tool_modules():
    return sorted(m.name for m in pkgutil.iter_modules(_bin_package.__path__) if not m.name.startswith("_"))


class ToolGroup(click.Group):
    """A group that finds its commands in ``bccmt_tools.bin`` and imports them lazily."""

    def list_commands(self, ctx):
        return [name.replace("_", "-") for name in _tool_modules()]

    def get_command(self, ctx, cmd_name):
        module_name = cmd_name.replace("-", "_")
        if module_name not in _tool_modules():
            return None
        module = importlib.import_module(f"bccmt_tools.bin.{module_name}")
        return module.cli

    def invoke(self, ctx):
        """Run the tool; an operating-system error about a file (a full disk, a read-only folder, a
        name too long) becomes the one-line ``Error:`` of any other bad input, not a traceback."""
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if exc.errno not in FILE_ERRNOS:
                raise
            where = exc.filename or "output"
            raise BccmtError(f"{where}: {exc.strerror or exc}") from None

    def format_commands(self, ctx, formatter):
        # Short help without importing every tool: the first docstring line of each module.
        rows = []
        for name in _tool_modules():
            spec = importlib.util.find_spec(f"bccmt_tools.bin.{name}")
            summary = _module_summary(spec.origin) if spec and spec.origin else ""
            rows.append((name.replace("_", "-"), summary))
        if rows:
            with formatter.section("Tools"):
                formatter.write_dl(rows)


def _module_summary(path):
    """First line of a module docstring, read from the source without importing it."""
    import ast

    with open(path, encoding="utf-8") as source:
        doc = ast.get_docstring(ast.parse(source.read())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


@click.group(cls=ToolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bccmt")
def main():
    """bccmt-tools: lightweight speaker verification (BC-CMT) in the Kaldi manner.

    Every tool reads Kaldi rspecifiers and writes wspecifiers, so tools chain in pipes:

    \b
        bccmt compute-fbank scp:data/test/wav.scp ark:- | bccmt extract-embeddings --exp exp/tiny ark:- ark,scp:emb.ark,emb.scp
    """


if __name__ == "__main__":
    main()
