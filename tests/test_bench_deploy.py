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


def test_dispatch_bench_reports_the_floor_and_its_share(tmp_path):
    """bench/bench_onnx_dispatch.py with tiny settings: the per-node cost, the node count and the floor's
    share at each length (the figures themselves are measurements, not asserted); a missing model is one line."""
    script = str(REPO / "bench" / "bench_onnx_dispatch.py")
    result = subprocess.run([sys.executable, script, "--seconds", "0.5,1", "--rounds", "1", "--runs", "2",
                             "--short-chain", "2", "--long-chain", "4"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("dispatch per node: ") and "Add chains of 2 and 4 nodes on [1, 32, 100]" in lines[1]
    assert " nodes after onnxruntime's optimisations; dispatch floor " in lines[2]
    assert [line.split(":")[0] for line in lines[3:]] == ["model at 0.5 s", "model at 1 s"]
    missing = subprocess.run([sys.executable, script, "--onnx", str(tmp_path / "none.onnx")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and missing.stderr.strip().splitlines() == [
        f"bench_onnx_dispatch.py: error: --onnx {tmp_path / 'none.onnx'}: no such file"]


def test_dispatch_bench_docstring_examples():
    import doctest

    from conftest import load_script

    module = load_script(REPO / "bench" / "bench_onnx_dispatch.py", "bench_onnx_dispatch")
    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
