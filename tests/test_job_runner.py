"""utils/run.sh (local parallel jobs) and utils/slurm.sh (against a fake sbatch/srun)."""

import os
import subprocess
import time
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parent.parent / "utils"


def run(args, cwd, env=None):
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_jobs_succeed_with_substitution_and_log_layout(tmp_path):
    result = run([UTILS / "run.sh", "JOB=1:3", "log/echo.JOB.log", "echo", "job", "JOB", ">", "out.JOB"], tmp_path)
    assert result.returncode == 0, result.stderr
    for job in (1, 2, 3):
        assert (tmp_path / f"out.{job}").read_text() == f"job {job}\n"
        lines = (tmp_path / f"log/echo.{job}.log").read_text().splitlines()
        assert lines[0] == f"# echo job {job} > out.{job}"
        assert lines[-1].startswith("# Ended (code 0) at ") and "elapsed time" in lines[-1]


def test_one_failing_job_makes_it_fail_and_names_its_log(tmp_path):
    result = run([UTILS / "run.sh", "JOB=1:4", "exp/log/x.JOB.log", "test", "JOB", "-ne", "3"], tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == "run.sh: 1/4 jobs failed; see exp/log/x.3.log"
    assert (tmp_path / "exp/log/x.3.log").read_text().splitlines()[-1].startswith("# Ended (code 1)")


def test_quoting_and_single_job_form(tmp_path):
    # An argument with spaces stays one argument; a lone argument is a whole command line.
    result = run([UTILS / "run.sh", "one.log", "printf", "[%s]", "a b", "c"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[a b][c]" in (tmp_path / "one.log").read_text()
    result = run([UTILS / "run.sh", "two.log", "echo x | tr x y; exit 5"], tmp_path)
    assert result.returncode != 0 and "1/1 jobs failed; see two.log" in result.stderr
    assert "y\n" in (tmp_path / "two.log").read_text()


def test_jobs_run_in_parallel_and_max_jobs_run_caps_them(tmp_path):
    start = time.monotonic()
    assert run([UTILS / "run.sh", "JOB=1:4", "a.JOB.log", "sleep", "0.5"], tmp_path).returncode == 0
    parallel = time.monotonic() - start
    start = time.monotonic()
    assert run([UTILS / "run.sh", "--max-jobs-run", "2", "JOB=1:4", "b.JOB.log", "sleep", "0.5"],
               tmp_path).returncode == 0
    capped = time.monotonic() - start
    assert parallel < 1.4 and capped >= 1.0


def test_bad_usage_is_rejected(tmp_path):
    assert run([UTILS / "run.sh", "--bogus", "1", "x.log", "true"], tmp_path).returncode != 0
    result = run([UTILS / "run.sh", "JOB=1:2", "same.log", "true"], tmp_path)
    assert result.returncode != 0 and "must contain JOB" in result.stderr
    assert run([UTILS / "run.sh", "--help"], tmp_path).stdout.startswith("Run a command as N parallel")


FAKE_SBATCH = """#!/usr/bin/env bash
echo "sbatch $*" >> "$FAKE_SLURM_RECORD"
array=""; script=""
for arg in "$@"; do case "$arg" in --array=*) array=${arg#--array=} ;; --*) ;; *) script=$arg ;; esac; done
array=${array%%\\%*}; status=0
for ((i = ${array%-*}; i <= ${array#*-}; i++)); do SLURM_ARRAY_TASK_ID=$i bash "$script" || status=1; done
echo 4242
exit $status
"""

FAKE_SRUN = """#!/usr/bin/env bash
echo "srun $*" >> "$FAKE_SLURM_RECORD"
while [[ "$1" == --* ]]; do shift; done
exec "$@"
"""


@pytest.fixture
def fake_slurm(tmp_path):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    record = tmp_path / "slurm_calls.txt"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SLURM_RECORD": str(record)}
    return env, record


def test_slurm_array_job_with_settings_from_conf_env_and_options(tmp_path, fake_slurm):
    env, record = fake_slurm
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/slurm.conf").write_text("# cluster settings\npartition cpu\nmem 2G\ntime 1:00:00\n")
    env = {**env, "BCCMT_SLURM_MEM": "3G"}
    result = run([UTILS / "slurm.sh", "--time", "0:10:00", "--max-jobs-run", "2", "JOB=1:3", "log/s.JOB.log",
                  "echo", "task", "JOB", ">", "out.JOB"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert [(tmp_path / f"out.{j}").read_text() for j in (1, 2, 3)] == ["task 1\n", "task 2\n", "task 3\n"]
    call = record.read_text()
    assert call.startswith("sbatch ") and "--array=1-3%2" in call and "--wait" in call
    assert "--partition=cpu" in call and "--mem=3G" in call and "--time=0:10:00" in call
    assert (tmp_path / "log/s.2.log").read_text().splitlines()[-1].startswith("# Ended (code 0)")


def test_slurm_failure_names_the_log(tmp_path, fake_slurm):
    env, record = fake_slurm
    result = run([UTILS / "slurm.sh", "--gpu", "1", "JOB=1:3", "log/f.JOB.log", "test", "JOB", "!=", "2"],
                 tmp_path, env)
    assert result.returncode != 0
    assert "slurm.sh: 1/3 jobs failed; see log/f.2.log" in result.stderr
    assert "--gres=gpu:1" in record.read_text()


def test_slurm_srun_mode(tmp_path, fake_slurm):
    env, record = fake_slurm
    result = run([UTILS / "slurm.sh", "--use-srun", "--partition", "gpu", "JOB=1:2", "log/r.JOB.log",
                  "echo", "JOB"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    calls = record.read_text().splitlines()
    assert len(calls) == 2 and all(c.startswith("srun ") and "--partition=gpu" in c for c in calls)
    assert "2\n" in (tmp_path / "log/r.2.log").read_text()


def test_slurm_without_sbatch_says_so(tmp_path):
    env = {"PATH": "/usr/bin:/bin"}
    result = run([UTILS / "slurm.sh", "JOB=1:2", "log/n.JOB.log", "true"], tmp_path, env)
    assert result.returncode != 0 and "sbatch not found" in result.stderr
