"""egs/voxceleb/compare/study_runs.py: a finished study run kept in the repository and restored as
an experiment directory that evaluation loads; stage 4 of run_compare.sh on a run kept without
its model."""

import gzip
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import REPO, load_script
from test_extract import make_exp
from test_recipe_stages_1_4 import recipe_copy
from test_run_comparison_queue import run_comparison, sentence_study

from bccmt_tools.models.experiment import load_model_from_exp

SCRIPT = REPO / "egs" / "voxceleb" / "compare" / "study_runs.py"
study_runs = load_script(SCRIPT, "study_runs")


def finished_run(exp_dir):
    """A trained, averaged and scored run: a real Tiny checkpoint with its classifier, logs, scores."""
    make_exp(exp_dir)
    saved = torch.load(exp_dir / "avg_model.pt", weights_only=True)
    saved.update(classifier={"weight": torch.randn(50, 192)}, spk2id={"a": 0}, averaged=["epoch_0016.pt"])
    torch.save(saved, exp_dir / "avg_model.pt")
    (exp_dir / "log").mkdir()
    (exp_dir / "log" / "train.log").write_text("epoch 1\n")
    (exp_dir / "log" / "wall_seconds").write_text("4000\n")
    (exp_dir / "scores").mkdir()
    (exp_dir / "scores" / "so762_test.cosine").write_text("a b 0.5\nb c -0.25\n")
    (exp_dir / "scores" / "so762_test.cosine.json").write_text('{"eer_percent": 6.0}\n')
    return exp_dir


def test_keep_then_restore_gives_an_experiment_that_loads_with_the_same_weights_and_scores(tmp_path):
    exp = finished_run(tmp_path / "exp" / "tiny_s3")
    kept = tmp_path / "results" / "tiny_s3"
    names = study_runs.keep(exp, kept)
    assert names == ["avg_model.pt", "config.yaml", "so762_test.cosine.gz", "so762_test.cosine.json",
                     "train.log", "wall_seconds"]
    assert set(torch.load(kept / "avg_model.pt", weights_only=True)) == {"model", "averaged"}  # no classifier
    first = (kept / "so762_test.cosine.gz").read_bytes()
    study_runs.keep(exp, kept)
    assert (kept / "so762_test.cosine.gz").read_bytes() == first  # no timestamp in the gzip header
    assert gzip.decompress(first) == (exp / "scores" / "so762_test.cosine").read_bytes()

    restored = tmp_path / "exp2" / "tiny_s3"
    assert study_runs.restore(kept, restored) == names
    assert (restored / "scores" / "so762_test.cosine").read_text() == "a b 0.5\nb c -0.25\n"
    assert (restored / "log" / "wall_seconds").read_text() == "4000\n"
    original, _ = load_model_from_exp(exp)
    model, _ = load_model_from_exp(restored)
    for (key, value), other in zip(original.state_dict().items(), model.state_dict().values()):
        assert torch.equal(value, other), key


def test_a_model_kept_under_models_is_referred_to_and_restored_from_there(tmp_path):
    """keep --model-at: no weights in the kept folder, a relative reference; restore copies the
    released file back; another run's weights are refused in one line, nothing written."""
    exp = finished_run(tmp_path / "exp" / "base_s1")
    release = tmp_path / "repo" / "models" / "so762" / "teacher_base" / "avg_model.pt"
    release.parent.mkdir(parents=True)
    release.write_bytes((exp / "avg_model.pt").read_bytes())
    kept = tmp_path / "repo" / "results" / "base_s1"
    study_runs.keep(exp, kept)  # first kept with its weights: --model-at replaces them
    names = study_runs.keep(exp, kept, model_at=release)
    assert "avg_model.pt" not in names and not (kept / "avg_model.pt").exists()
    assert (kept / "avg_model.pt.at").read_text() == "../../models/so762/teacher_base/avg_model.pt\n"
    restored = tmp_path / "exp2" / "base_s1"
    assert "avg_model.pt.at" in study_runs.restore(kept, restored)
    assert (restored / "avg_model.pt").read_bytes() == release.read_bytes()
    load_model_from_exp(restored)

    other = finished_run(tmp_path / "exp" / "other_s1")
    saved = torch.load(other / "avg_model.pt", weights_only=True)
    first = next(iter(saved["model"]))
    saved["model"][first] = saved["model"][first] + 1.0  # another run's weights
    torch.save(saved, other / "avg_model.pt")
    with pytest.raises(study_runs.StudyRunError, match="not the weights of .*other_s1/avg_model.pt"):
        study_runs.keep(other, tmp_path / "kept_other", model_at=release)
    assert not (tmp_path / "kept_other").exists()
    release.unlink()
    with pytest.raises(study_runs.StudyRunError, match="avg_model.pt is missing"):
        study_runs.restore(kept, tmp_path / "exp3" / "base_s1")


def test_restore_never_replaces_a_file_and_keep_refuses_an_unscored_run(tmp_path):
    exp = finished_run(tmp_path / "exp" / "tiny_s1")
    kept = tmp_path / "kept"
    study_runs.keep(exp, kept)
    (exp / "scores" / "so762_test.cosine").write_text("newer\n")
    assert "so762_test.cosine.gz" not in study_runs.restore(kept, exp)
    assert (exp / "scores" / "so762_test.cosine").read_text() == "newer\n"

    unscored = make_exp(tmp_path / "exp" / "tiny_s2")
    result = subprocess.run([sys.executable, str(SCRIPT), "keep", str(unscored), str(tmp_path / "k2")],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"study_runs.py: error: {unscored}/scores: no *.cosine.json (score the run first: run_compare.sh stages 2-3)"]
    assert not (tmp_path / "k2").exists()


def test_an_unfinished_run_is_kept_to_continue_and_to_average(tmp_path):
    """Its newest checkpoint whole (what --resume reads), the older ones of the averaging window as
    weights only, nothing older; restored, the run resumes from the newest and averages once done."""
    from bccmt_tools.io.expdir import latest_checkpoint
    from bccmt_tools.train.checkpoint import average_checkpoints

    exp = make_exp(tmp_path / "exp" / "base_s1")
    config = yaml.safe_load((exp / "config.yaml").read_text())
    (exp / "config.yaml").write_text(yaml.safe_dump({**config, "trainer": {"epochs": 6}}))
    weights = torch.load(exp / "avg_model.pt", weights_only=True)["model"]
    (exp / "avg_model.pt").unlink()
    (exp / "log").mkdir()
    (exp / "log" / "train.log").write_text("epoch 5/6\n")
    (exp / "checkpoints").mkdir()
    for epoch in (1, 2, 3, 4, 5):
        torch.save({"epoch": epoch, "model": weights, "optimizer": {"state": {0: torch.full((3,), epoch)}}},
                   exp / "checkpoints" / f"epoch_000{epoch}.pt")
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "epoch_0001.pt").write_text("from an earlier keep")
    with pytest.raises(study_runs.StudyRunError, match="no \\*.cosine.json"):
        study_runs.keep(exp, kept)  # a finished run needs its scores
    names = study_runs.keep(exp, kept, unfinished=True, num_avg=4)
    assert names == ["config.yaml", "epoch_0003.pt", "epoch_0004.pt", "epoch_0005.pt", "train.log"]
    assert sorted(path.name for path in kept.iterdir()) == names
    assert set(torch.load(kept / "epoch_0003.pt", weights_only=True)) == {"epoch", "model"}

    restored = tmp_path / "exp2" / "base_s1"
    study_runs.restore(kept, restored)
    newest = latest_checkpoint(restored)
    assert newest == restored / "checkpoints" / "epoch_0005.pt"
    state = torch.load(newest, weights_only=True)
    assert state["epoch"] == 5 and torch.equal(state["optimizer"]["state"][0], torch.full((3,), 5))
    torch.save({"epoch": 6, "model": weights}, restored / "checkpoints" / "epoch_0006.pt")  # the resumed run's last
    assert average_checkpoints(restored, 4)["averaged"] == [f"epoch_000{e}.pt" for e in (3, 4, 5, 6)]
    with pytest.raises(study_runs.StudyRunError, match="no epoch_\\*.pt"):
        study_runs.keep(make_exp(tmp_path / "exp" / "fresh"), tmp_path / "k3", unfinished=True)


def test_keep_names_a_checkpoint_that_is_not_one(tmp_path):
    exp = finished_run(tmp_path / "exp" / "tiny_s1")
    torch.save([1, 2], exp / "avg_model.pt")
    with pytest.raises(study_runs.StudyRunError, match=r"avg_model.pt: key 'model': missing"):
        study_runs.keep(exp, tmp_path / "kept")


def test_stage_4_tables_a_run_restored_without_its_model(tmp_path):
    """A run kept before models were kept: in the table, out of the cost profile (none is run)."""
    work = recipe_copy(tmp_path)
    sentence_study(work)
    exp = work / "exp" / "compare"
    (exp / "cost.json").unlink()
    (exp / "tiny_s1" / "avg_model.pt").unlink()
    result, calls = run_comparison(tmp_path, [
        "--stage", "3", "--stop-stage", "4", "--seeds", "1", "--variants", "tiny", "--test-lists", "so762_test",
        "--num-bootstrap", "0", "--figure", "", "--table", "table.md"], work=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"stage 4: exp/compare/tiny_s1 has no avg_model.pt: left out of the cost profile and the SA-map "
            f"distance") in result.stdout
    assert not (exp / "cost.json").exists()
    assert "| so762_test EER % |" in (work / "table.md").read_text()


def test_docstring_examples():
    """The script lives outside the package, so `--doctest-modules` does not reach it."""
    import doctest

    result = doctest.testmod(study_runs, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0
