"""Bad input to the back-end: each a one-line error naming the file and key, and no output left."""

import numpy as np
import pytest
from click.testing import CliRunner

from bccmt_tools.backend.embeddings import EmbeddingTable, load_embeddings
from bccmt_tools.backend.scoring import score_trials
from bccmt_tools.cli import main
from bccmt_tools.embed.extract import ExtractionOptions, extract_embeddings
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.kaldi_table import TableWriter


def _text_ark(path, rows):
    path.write_text("".join(f"{key} [ {' '.join(str(float(v)) for v in values)} ]\n" for key, values in rows))
    return f"ark,t:{path}"


@pytest.fixture
def good(tmp_path):
    rspec = _text_ark(tmp_path / "emb.txt", [("a", [1, 0, 0]), ("b", [0, 1, 0]), ("c", [1, 1, 0])])
    (tmp_path / "trials").write_text("1 a b\n0 a missing\n1 b c\n")
    return tmp_path, rspec


def _score(args):
    return CliRunner().invoke(main, ["score", *map(str, args)])


def test_missing_trial_key_is_named_and_leaves_no_output(good):
    tmp_path, rspec = good
    result = _score([tmp_path / "trials", rspec, rspec, tmp_path / "scores"])
    assert result.exit_code == 1
    assert "test key 'missing' has no embedding" in result.output and str(tmp_path / "trials") in result.output
    assert not (tmp_path / "scores").exists()
    assert not list(tmp_path.glob(".scores*"))


def test_skip_missing_warns_with_count(good):
    tmp_path, rspec = good
    result = _score(["--skip-missing", tmp_path / "trials", rspec, rspec, tmp_path / "scores"])
    assert result.exit_code == 0, result.output
    assert "skipped 1 of 3 trials" in result.stderr
    assert len((tmp_path / "scores").read_text().splitlines()) == 2


def test_duplicated_embedding_key(tmp_path):
    rspec = _text_ark(tmp_path / "dup.txt", [("a", [1, 2]), ("a", [3, 4])])
    with pytest.raises(BccmtError, match="duplicated key 'a'"):
        load_embeddings(rspec)


def test_nan_embedding_is_named(tmp_path):
    with TableWriter(f"ark:{tmp_path}/nan.ark") as writer:
        writer["a"] = np.ones(2, dtype=np.float32)
        writer["bad"] = np.array([np.nan, 1.0], dtype=np.float32)
    rspec = f"ark:{tmp_path}/nan.ark"
    with pytest.raises(BccmtError, match="key 'bad': embedding contains NaN"):
        load_embeddings(rspec)


def test_inconsistent_dimension_within_a_table(tmp_path):
    rspec = _text_ark(tmp_path / "dims.txt", [("a", [1, 2]), ("b", [1, 2, 3])])
    with pytest.raises(BccmtError, match="key 'b': dimension 3, but key 'a' has dimension 2"):
        load_embeddings(rspec)


def test_zero_norm_embedding_is_named():
    table = EmbeddingTable(["a", "zero"], np.array([[1.0, 2.0], [0.0, 0.0]]), where="emb.scp")
    with pytest.raises(BccmtError, match="key 'zero': embedding has zero norm"):
        score_trials([("a", "zero", None)], table, table)


def test_dimension_mismatch_between_enrolment_and_test(tmp_path, good):
    _, rspec = good
    test_rspec = _text_ark(tmp_path / "test.txt", [("b", [1, 2])])
    result = _score([tmp_path / "trials", rspec, test_rspec, tmp_path / "scores"])
    assert result.exit_code == 1
    assert "dimension mismatch" in result.output and "test.txt" in result.output


def test_empty_trial_list(good):
    tmp_path, rspec = good
    (tmp_path / "empty").write_text("")
    result = _score([tmp_path / "empty", rspec, rspec, tmp_path / "scores"])
    assert result.exit_code == 1 and "empty" in result.output
    with pytest.raises(BccmtError, match="no trials"):
        score_trials([], *[EmbeddingTable(["a"], np.ones((1, 2)))] * 2)


def test_asnorm_without_cohort_and_plda_without_model(good):
    tmp_path, rspec = good
    result = _score(["--method", "asnorm", tmp_path / "trials", rspec, rspec, tmp_path / "s"])
    assert result.exit_code == 1 and "needs a cohort" in result.output
    result = _score(["--method", "plda", tmp_path / "trials", rspec, rspec, tmp_path / "s"])
    assert result.exit_code == 1 and "needs a PLDA model" in result.output


def test_metrics_need_both_classes_and_well_formed_lines(tmp_path):
    (tmp_path / "one_class").write_text("a b 0.5 target\na c 0.1 target\n")
    result = CliRunner().invoke(main, ["compute-metrics", str(tmp_path / "one_class")])
    assert result.exit_code == 1 and "no nontarget trials" in result.output
    (tmp_path / "bad").write_text("a b 0.5 target\na c oops target\n")
    result = CliRunner().invoke(main, ["compute-metrics", str(tmp_path / "bad")])
    assert result.exit_code == 1 and f"{tmp_path / 'bad'}:2: score 'oops'" in result.output


class _ConstantEmbedder:
    embedding_dim = 4

    def __call__(self, feats, lengths):
        return np.ones((feats.shape[0], 4), dtype=np.float32)


def test_extraction_rejects_bad_features_or_skips_them():
    items = [("ok", np.zeros((5, 80))), ("wrong_dim", np.zeros((5, 40))), ("empty", np.zeros((0, 80)))]
    with pytest.raises(BccmtError, match="key 'wrong_dim': features have 40 dims, the model expects 80"):
        list(extract_embeddings(items, _ConstantEmbedder(), ExtractionOptions(), 80, "feats.scp"))
    skipped = []
    kept = list(extract_embeddings(items, _ConstantEmbedder(), ExtractionOptions(), 80, "feats.scp",
                                   on_error=lambda key, error: skipped.append(key)))
    assert [key for key, _ in kept] == ["ok"] and skipped == ["wrong_dim", "empty"]


def test_extract_tool_without_exp_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["extract-embeddings", "--exp", str(tmp_path / "nope"), "--device", "cpu",
                                       "ark:/dev/null", f"ark,scp:{tmp_path}/x.ark,{tmp_path}/x.scp"])
    assert result.exit_code == 1 and "config.yaml" in result.output
    assert not (tmp_path / "x.scp").exists()
