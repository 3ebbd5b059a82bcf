"""The bccmt command: every tool is listed and answers --help."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from bccmt_tools.cli import _tool_modules, main

TOOLS = [name.replace("_", "-") for name in _tool_modules()]


def test_help_lists_every_tool():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for tool in TOOLS:
        assert tool in result.output


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_has_help(tool):
    result = CliRunner().invoke(main, [tool, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_unknown_tool_is_an_error():
    result = CliRunner().invoke(main, ["no-such-tool"])
    assert result.exit_code != 0
    assert "No such command" in result.output


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "bccmt_tools.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "bccmt" in out.stdout
