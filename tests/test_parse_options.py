"""utils/parse_options.sh: Kaldi-style options for recipe scripts, run through bash."""

import subprocess
from pathlib import Path

import pytest

PARSE_OPTIONS = Path(__file__).resolve().parents[1] / "utils" / "parse_options.sh"

SCRIPT = f"""#!/usr/bin/env bash
stage=1            # first stage to run
stop_stage=100
data_root=         # corpus root
use_gpu=false      # true or false
help_message="Usage: $0 [options] <out-dir>"
. {PARSE_OPTIONS} || exit 1
not_an_option=3
echo "stage=$stage stop_stage=$stop_stage data_root=$data_root use_gpu=$use_gpu args=$*"
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "script.sh"
    path.write_text(SCRIPT)
    path.chmod(0o755)
    return path


def run(script, *args):
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=30)


def test_space_and_equals_forms_set_variables_with_dashes_mapped(script):
    result = run(script, "--stage", "3", "--stop-stage=5", "--data-root", "/a b", "--use-gpu", "true", "x", "y")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stage=3 stop_stage=5 data_root=/a b use_gpu=true args=x y"


def test_defaults_kept_and_double_dash_ends_options(script):
    result = run(script, "--", "--stage")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stage=1 stop_stage=100 data_root= use_gpu=false args=--stage"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--no-such-option", "1"], "unknown option --no-such-option"),
        (["--not-an-option", "1"], "unknown option --not-an-option"),  # defined after the parse
        (["--PATH", "/x"], "unknown option --PATH"),
        (["--stage"], "option --stage needs a value"),
        (["--use-gpu", "yes"], "expects true or false"),
        (["--config", "/nonexistent/conf.sh"], "not found"),
    ],
)
def test_bad_options_exit_1_with_a_clear_message(script, args, message):
    result = run(script, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_help_prints_usage_options_defaults_and_comments(script):
    result = run(script, "--stage", "7", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: ")
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  --")}
    assert "7" in lines["--stage"].split() and "first stage to run" in lines["--stage"]
    assert "100" in lines["--stop-stage"].split()
    assert "corpus root" in lines["--data-root"]
    assert "--not-an-option" not in lines and "--help-message" not in lines


def test_config_file_is_sourced_and_later_options_override(script, tmp_path):
    config = tmp_path / "conf.sh"
    config.write_text("stage=9\nstop_stage=11\n")
    result = run(script, "--config", str(config), "--stop-stage", "12")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stage=9 stop_stage=12 ")


def test_script_that_cds_to_its_folder_keeps_its_option_list(tmp_path):
    """Recipes `cd "$(dirname "$0")"` before parsing; started by a relative path from elsewhere,
    their option list must still be found (else any shell variable, e.g. --PATH, would pass)."""
    folder = tmp_path / "recipe"
    folder.mkdir()
    script = folder / "run.sh"
    script.write_text(SCRIPT.replace("#!/usr/bin/env bash\n", '#!/usr/bin/env bash\ncd "$(dirname "$0")"\n'))
    script.chmod(0o755)
    ok = subprocess.run(["bash", "recipe/run.sh", "--stage", "2"], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0 and "stage=2" in ok.stdout, ok.stderr
    refused = subprocess.run(["bash", "recipe/run.sh", "--PATH", "x"], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode != 0 and "unknown option --PATH" in refused.stderr
    unknown = subprocess.run(["bash", "recipe/run.sh", "--bogus"], cwd=tmp_path, capture_output=True, text=True)
    assert "unknown option --bogus" in unknown.stderr  # named even without a value
