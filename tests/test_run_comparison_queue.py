"""Stage 1 queue of egs/voxceleb/run_compare.sh with a stand-in `bccmt` that only logs its
calls and writes the files a real training would: which jobs start, in which order, with which
teacher; and stages 3-4 with the stand-in: which lists are scored from which embeddings, and the
table's lists and data note."""

import json
import os
import shutil
import subprocess
from pathlib import Path

from test_recipe_stages_1_4 import recipe_copy

# Logs each call; `train` sleeps $STUB_SLEEP_<exp name> seconds (default 0.2) and fails for the
# experiment named in $STUB_FAIL; `average-model` writes avg_model.pt; `compute-metrics --out` a
# metrics JSON.
STUB = r"""#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG"
command=$1 exp= out=
while [ $# -gt 0 ]; do [ "$1" = --exp ] && exp=$2; [ "$1" = --out ] && out=$2; shift; done
name=${exp##*/}
if [ "$command" = compute-metrics ] && [ -n "$out" ]; then
  echo '{"eer_percent": 12.5, "min_dcf": {"0.01": {"min_dcf": 0.5}, "0.05": {"min_dcf": 0.4}}}' > "$out"
elif [ "$command" = train ]; then
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


def run_comparison(tmp_path, args, env_extra=None, work=None):
    """run_compare.sh ARGS in a recipe copy (``work``, default a new one, with the validation
    lists of conf/train and conf/train/compare_so762) with the stand-in bccmt: ``(result, calls)``."""
    if work is None:
        work = comparison_recipe(tmp_path)
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir()
    (stub_dir / "bccmt").write_text(STUB)
    (stub_dir / "bccmt").chmod(0o755)
    log = tmp_path / "calls.log"
    env = dict(os.environ, STUB_LOG=str(log), STUB_FAIL="",
               PATH=f"{stub_dir}{os.pathsep}{Path(os.sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.update(env_extra or {})
    result = subprocess.run(["bash", "run_compare.sh", *args], cwd=work, env=env, capture_output=True,
                            text=True, timeout=120)
    calls = log.read_text().splitlines() if log.is_file() else []
    return result, calls


def comparison_recipe(tmp_path):
    """A recipe copy with the validation lists of conf/train and conf/train/compare_so762."""
    work = recipe_copy(tmp_path)
    (work / "data" / "trials").mkdir(parents=True)
    for name in ("vox1_dev_val", "so762_val"):
        (work / "data" / "trials" / name).write_text("a b target\n")
    return work


def run_stage1(tmp_path, variants, env_extra=None):
    return run_comparison(tmp_path, ["--stage", "1", "--stop-stage", "1", "--jobs", "2", "--seeds", "1",
                                     "--variants", variants, "--kd-ablations", ECAPA_EMB], env_extra)


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
            "(add its variant to --variants, train it first, or name the trained one with --teacher-seed)"
            ) in result.stdout + result.stderr
    assert not [call for call in calls if call.startswith("train")]


def test_a_kd_seed_added_later_trains_from_the_teacher_of_teacher_seed(tmp_path):
    """--seeds 2 alone would look for base_s2; --teacher-seed 1 names the trained teacher instead."""
    args = ["--stage", "1", "--stop-stage", "1", "--jobs", "1", "--seeds", "2", "--variants", "tiny_kd"]
    for name in ("without", "with", "bad"):
        (tmp_path / name).mkdir()
    result, calls = run_comparison(tmp_path / "without", args)
    assert result.returncode == 1 and "needs the teacher exp/compare/base_s2/avg_model.pt" in result.stdout
    assert not calls
    result, calls = run_comparison(tmp_path / "with", [*args, "--teacher-seed", "1"],
                                   work=trained_teacher(tmp_path / "with"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert [call for call in calls if call.startswith("train")] == [
        "train --config conf/train/compare_tiny_kd.yaml --data data/train --exp exp/compare/tiny_kd_s2 --seed 2 "
        "--num-threads 1 --device cpu --no-progress --resume --teacher exp/compare/base_s1"]
    result, _ = run_comparison(tmp_path / "bad", [*args, "--teacher-seed", "one"])
    assert result.returncode == 1 and "--teacher-seed must be a number, got 'one'" in result.stderr


def trained_teacher(tmp_path):
    """A comparison_recipe whose exp/compare/base_s1 is trained and averaged."""
    work = comparison_recipe(tmp_path)
    (work / "exp" / "compare" / "base_s1").mkdir(parents=True)
    (work / "exp" / "compare" / "base_s1" / "avg_model.pt").write_bytes(b"")
    return work


def test_a_failed_teacher_drops_its_students_and_the_rest_trains(tmp_path):
    result, calls = run_stage1(tmp_path, "tiny ecapa_c512", {"STUB_FAIL": "ecapa_c512_s1"})
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "tiny_kd_ecapa_emb_s1 not trained: its teacher exp/compare/ecapa_c512_s1 failed" in out
    assert "2 training job(s) failed" in out
    assert "average-model --exp exp/compare/tiny_s1 --num 4" in calls
    assert not [call for call in calls if "tiny_kd_ecapa_emb_s1" in call]


def test_the_frequency_resolved_tiny_trains_once_per_seed_with_its_config(tmp_path):
    result, calls = run_comparison(tmp_path, ["--stage", "1", "--stop-stage", "1", "--seeds", "1 2",
                                              "--config-dir", "conf/train/compare_so762",
                                              "--variants", "tiny tiny_freq_resolved"])
    assert result.returncode == 0, result.stdout + result.stderr
    trains = [call for call in calls if call.startswith("train")]
    assert len(trains) == 4
    for seed in (1, 2):
        assert (f"train --config conf/train/compare_so762/compare_tiny_freq_resolved.yaml --data data/train "
                f"--exp exp/compare/tiny_freq_resolved_s{seed} --seed {seed} ") in "\n".join(trains)


def test_a_variant_without_its_config_stops_before_any_training(tmp_path):
    """conf/train has no compare_tiny_freq_resolved.yaml (only compare_so762 has): one line, no training."""
    result, calls = run_comparison(tmp_path, ["--stage", "1", "--stop-stage", "1", "--seeds", "1",
                                              "--variants", "tiny tiny_freq_resolved"])
    assert result.returncode == 1
    assert ("conf/train/compare_tiny_freq_resolved.yaml is missing (the config of tiny_freq_resolved_s1; "
            "--config-dir conf/train)") in result.stdout + result.stderr  # stage 1 logs through tee
    assert not [call for call in calls if call.startswith("train")]


def test_test_list_options_are_checked(tmp_path):
    result, _ = run_comparison(tmp_path, ["--stage", "3", "--test-lists", "so762_test vox1_O", "--split-by-length", "vox1_E"])
    assert result.returncode == 1
    assert "--split-by-length: 'vox1_E' is not one of --test-lists (so762_test vox1_O)" in result.stderr
    shutil.rmtree(tmp_path / "stub")
    result, _ = run_comparison(tmp_path, ["--test-lists", "vox1_O x.short"], work=tmp_path / "voxceleb")
    assert result.returncode == 1 and "halves come from --split-by-length" in result.stderr


def sentence_study(work):
    """so762_test (4 utterances with utt2dur; trial lengths 1, 2, 3, 1, 2, 3 s), vox1_O on
    voxceleb1_test (utt2num_frames only), a training dir, and tiny_s1 trained and embedded."""
    def write(path, lines):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines))

    data = work / "data"
    write(data / "so762_test" / "utt2spk", ["s1-a s1", "s1-b s1", "s2-a s2", "s2-b s2"])
    write(data / "so762_test" / "utt2dur", ["s1-a 1.0", "s1-b 3.0", "s2-a 2.0", "s2-b 4.0"])
    write(data / "trials" / "so762_test", ["s1-a s1-b target", "s2-a s2-b target", "s1-b s2-b nontarget",
                                           "s1-a s2-a nontarget", "s1-b s2-a nontarget", "s2-b s1-b nontarget"])
    write(data / "voxceleb1_test" / "utt2spk", ["v1-a v1", "v1-b v1", "v2-a v2"])
    write(data / "voxceleb1_test" / "utt2num_frames", ["v1-a 100", "v1-b 200", "v2-a 150"])
    write(data / "trials" / "vox1_O", ["v1-a v1-b target", "v1-a v2-a nontarget"])
    write(data / "train" / "utt2spk", ["t1 x", "t2 x", "t3 y", "t4 y"])
    write(data / "train" / "utt2dur", ["t1 1", "t2 2", "t3 3", "t4 4"])
    exp = work / "exp" / "compare"
    write(exp / "train_mean_subset" / "utt2spk", ["t1 x", "t3 y"])
    # a cost profile of these models made earlier (its recorded inputs match): stage 4 keeps it
    cost_inputs = {"exp_dirs": ["exp/compare/tiny_s1"], "seconds": [1.0, 10.0], "runs": 30, "warmup": 3, "threads": 1}
    write(exp / "cost.json", [json.dumps({"inputs": cost_inputs})])
    write(exp / "tiny_s1" / "avg_model.pt", [])
    for emb in ("so762_test", "voxceleb1_test", "train_mean_subset"):
        write(exp / "tiny_s1" / "embeddings" / emb / "xvector.scp", [])


def test_stages_3_4_score_the_lists_and_halves_and_describe_them(tmp_path):
    """--test-lists "so762_test vox1_O" --split-by-length so762_test: the halves are made once (median
    2 s), every list is scored from its own embeddings (the halves from so762_test's), and the table
    has a column group per list with the halves named, the data note and the seed rule."""
    work = recipe_copy(tmp_path)
    sentence_study(work)
    result, calls = run_comparison(tmp_path, [
        "--stage", "3", "--stop-stage", "4", "--seeds", "1", "--variants", "tiny", "--test-lists", "so762_test vox1_O",
        "--split-by-length", "so762_test", "--num-bootstrap", "0", "--figure", "", "--table", "table.md",
        "--seed-rule", "seeds 1-3, fixed in advance"], work=work)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = work / "data" / "trials"
    assert (trials / "so762_test.short").read_text().count("\n") == 4
    assert (trials / "so762_test.long").read_text() == "s1-b s2-b nontarget\ns2-b s1-b nontarget\n"
    emb, scores = "exp/compare/tiny_s1/embeddings", "exp/compare/tiny_s1/scores"
    for name, table in (("so762_test", "so762_test"), ("so762_test.short", "so762_test"),
                        ("so762_test.long", "so762_test"), ("vox1_O", "voxceleb1_test")):
        assert (f"score --method cosine --mean-vector {emb}/train_mean_subset/mean.vec data/trials/{name} "
                f"scp:{emb}/{table}/xvector.scp scp:{emb}/{table}/xvector.scp {scores}/{name}.cosine") in calls
    text = (work / "table.md").read_text()
    assert "**Seed rule (fixed before any result was seen).** seeds 1-3, fixed in advance" in text
    header = next(line for line in text.splitlines() if line.startswith("| Model |"))
    assert ("| so762_test EER % |" in header and "| so762_test (short, <= 2.00 s) EER % |" in header
            and "| so762_test (long, > 2.00 s) EER % |" in header and "| vox1_O EER % |" in header
            and "vox1_E" not in header)
    assert ("- data: data/train: 4 utterances of 2 speakers, median 2.5 s; so762_test: 6 trials on data/so762_test "
            "(4 utterances of 2 speakers, median 2.5 s) and its halves by length, the shorter utterance of a trial "
            "at most / above the median 2.00 s: so762_test.short (4 trials) / so762_test.long (2 trials); vox1_O: "
            "2 trials on data/voxceleb1_test (3 utterances of 2 speakers, median 1.5 s); cosine scoring after "
            "subtracting the mean of 2 training embeddings (4 per speaker)") in text
    commands = (work / "exp" / "compare" / "commands.txt").read_text()
    assert "python local/split_trials_by_length.py data/trials/so762_test data/so762_test\n" in commands
    assert "EXP data/so762_test|data/voxceleb1_test|exp/compare/train_mean_subset EXP/embeddings/SET" in commands


def test_threads_reach_every_training_and_a_bad_value_stops_first(tmp_path):
    """--threads N: each training gets --num-threads N (default 1); a non-number: one line, nothing runs."""
    result, calls = run_comparison(tmp_path, ["--stage", "1", "--stop-stage", "1", "--seeds", "1", "--jobs", "1",
                                              "--threads", "2", "--variants", "tiny tiny_conventional"])
    assert result.returncode == 0, result.stdout + result.stderr
    trains = [call for call in calls if call.startswith("train")]
    assert len(trains) == 2 and all(" --num-threads 2 " in call for call in trains)
    (tmp_path / "bad").mkdir()
    result, calls = run_comparison(tmp_path / "bad", ["--threads", "two"])
    assert result.returncode == 1 and not calls
    assert "--threads must be a positive number, got 'two'" in result.stderr
