"""Stage 1 queue of egs/voxceleb/local/run_comparison.sh with a stand-in `bccmt` that only logs its
calls and writes the files a real training would: which jobs start, in which order, with which
teacher."""

import os
import subprocess
from pathlib import Path

from test_recipe_stages_1_4 import recipe_copy

# Logs each call; `train` sleeps $STUB_SLEEP_<exp name> seconds (default 0.2) and fails for the
# experiment named in $STUB_FAIL; `average-model` writes avg_model.pt.
STUB = r"""#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG"
command=$1 exp=
while [ $# -gt 0 ]; do [ "$1" = --exp ] && exp=$2; shift; done
name=${exp##*/}
if [ "$command" = train ]; then
  [ "$name" = "$STUB_FAIL" ] && exit 3
  var=STUB_SLEEP_$name
  sleep "${!var:-0.2}"
  mkdir -p "$exp"
elif [ "$command" = average-model ]; then
  touch "$exp/avg_model.pt"
fi
exit 0
"""

ECAPA_EMB = "ecapa_emb:kd.teacher=exp/compare/ecapa_c512_s1,kd.attention.weight=0,kd.embedding.weight=1.0"


def run_stage1(tmp_path, variants, env_extra=None):
    work = recipe_copy(tmp_path)
    (work / "data" / "trials").mkdir(parents=True)
    (work / "data" / "trials" / "vox1_dev_val").write_text("a b target\n")
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir()
    (stub_dir / "bccmt").write_text(STUB)
    (stub_dir / "bccmt").chmod(0o755)
    log = tmp_path / "calls.log"
    env = dict(os.environ, STUB_LOG=str(log), STUB_FAIL="",
               PATH=f"{stub_dir}{os.pathsep}{Path(os.sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.update(env_extra or {})
    result = subprocess.run(["bash", "local/run_comparison.sh", "--stage", "1", "--stop-stage", "1", "--jobs", "2",
                             "--seeds", "1", "--variants", variants, "--kd-ablations", ECAPA_EMB],
                            cwd=work, env=env, capture_output=True, text=True, timeout=120)
    calls = log.read_text().splitlines() if log.is_file() else []
    return result, calls


def test_a_kd_ablation_with_its_own_teacher_waits_for_it(tmp_path):
    """kd.teacher=DIR in a --kd-ablations spec: the student trains with --teacher DIR (not --set
    kd.teacher), after DIR is trained and averaged, although a slot was free earlier."""
    result, calls = run_stage1(tmp_path, "tiny ecapa_c512", {"STUB_SLEEP_ecapa_c512_s1": "1.5"})
    assert result.returncode == 0, result.stdout + result.stderr
    student = next(i for i, call in enumerate(calls) if call.startswith("train") and "tiny_kd_ecapa_emb_s1" in call)
    teacher_done = calls.index("average-model --exp exp/compare/ecapa_c512_s1 --num 4")
    tiny_done = calls.index("average-model --exp exp/compare/tiny_s1 --num 4")
    assert tiny_done < teacher_done < student
    assert calls[student].endswith("--resume --teacher exp/compare/ecapa_c512_s1 --set kd.attention.weight=0 "
                                   "--set kd.embedding.weight=1.0")
    assert "kd.teacher" not in calls[student]


def test_a_teacher_nothing_trains_stops_before_any_training(tmp_path):
    result, calls = run_stage1(tmp_path, "tiny")
    assert result.returncode == 1
    assert ("tiny_kd_ecapa_emb_s1 needs the teacher exp/compare/ecapa_c512_s1/avg_model.pt "
            "(add its variant to --variants or train it first)") in result.stdout + result.stderr
    assert not [call for call in calls if call.startswith("train")]


def test_a_failed_teacher_drops_its_students_and_the_rest_trains(tmp_path):
    result, calls = run_stage1(tmp_path, "tiny ecapa_c512", {"STUB_FAIL": "ecapa_c512_s1"})
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "tiny_kd_ecapa_emb_s1 not trained: its teacher exp/compare/ecapa_c512_s1 failed" in out
    assert "2 training job(s) failed" in out
    assert "average-model --exp exp/compare/tiny_s1 --num 4" in calls
    assert not [call for call in calls if "tiny_kd_ecapa_emb_s1" in call]
