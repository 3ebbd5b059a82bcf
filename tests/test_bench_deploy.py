"""bench/bench_deploy.py's command line: bad input ends in one line, not a traceback."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_calibration_data_that_is_no_data_dir_is_one_line(tmp_path):
    empty = tmp_path / "not_a_data_dir"
    empty.mkdir()
    result = subprocess.run([sys.executable, str(REPO / "bench" / "bench_deploy.py"), "--calibration-data", str(empty),
                             "--exp", str(tmp_path / "no_exp"), "--workdir", str(tmp_path / "work")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(empty) in lines[0] and "wav.scp or feats.scp" in lines[0]
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())
