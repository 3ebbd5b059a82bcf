"""Scoring back-ends are registered by name; bccmt score offers each and lists them."""

import numpy as np
from click.testing import CliRunner

from bccmt_tools.backend import backends
from bccmt_tools.backend.embeddings import EmbeddingTable
from bccmt_tools.backend.scoring import METHODS, score_trials
from bccmt_tools.cli import main


def test_score_lists_the_registered_methods():
    result = CliRunner().invoke(main, ["score", "--list-methods"])
    assert result.exit_code == 0 and result.output.split() == list(backends.backend_names()) == list(METHODS)


def test_a_registered_backend_is_scored_by_name():
    @backends.register_backend
    class Negative(backends.Cosine):
        name = "negative_test"
        help = "minus cosine"

        def scorer(self, *args):
            score = super().scorer(*args)
            return lambda enroll_index, test_index: -score(enroll_index, test_index)

    try:
        table = EmbeddingTable(["a", "b"], np.array([[1.0, 0.0], [1.0, 1.0]]))
        trials = [("a", "b", 1)]
        cosine = score_trials(trials, table, table, "cosine").scores
        assert np.array_equal(score_trials(trials, table, table, "negative_test").scores, -cosine)
    finally:
        backends._BACKENDS.pop("negative_test")


def test_options_of_other_backends_are_refused(tmp_path):
    result = CliRunner().invoke(main, ["score", "--method", "cosine", "--plda", "p.npz", "t", "scp:e", "scp:e", "-"])
    assert result.exit_code != 0
    assert "--plda does not apply to --method cosine (it goes with --method plda)" in result.output
