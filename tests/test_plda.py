"""Two-covariance PLDA: recovers known covariances, beats cosine, LLR equals the direct Gaussian
formula (one and several enrolment utterances); LDA; train-lda / train-plda / score tools."""

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import multivariate_normal

from bccmt_tools.backend.cosine import cosine_scores
from bccmt_tools.backend.embeddings import EmbeddingTable
from bccmt_tools.backend.lda import LinearTransform, train_lda
from bccmt_tools.backend.metrics import compute_eer
from bccmt_tools.backend.plda import Plda, estimate_two_covariance, train_plda
from bccmt_tools.backend.scoring import read_scores, score_trials
from bccmt_tools.cli import main
from bccmt_tools.io.kaldi_table import TableWriter

DIM = 6


def _covariances(rng):
    a = rng.standard_normal((DIM, DIM))
    between = a @ a.T / DIM + np.diag(np.linspace(2.0, 0.2, DIM))
    b = rng.standard_normal((DIM, DIM))
    # Within-speaker variance is large where between-speaker variance is small: cosine suffers.
    within = 0.3 * b @ b.T / DIM + np.diag(np.linspace(0.1, 3.0, DIM))
    return between, within


def _speakers(rng, between, within, num_speakers, per_speaker, mean):
    y = rng.multivariate_normal(np.zeros(DIM), between, num_speakers)
    x = mean + np.repeat(y, per_speaker, axis=0) + rng.multivariate_normal(np.zeros(DIM), within,
                                                                            num_speakers * per_speaker)
    return x, np.repeat(np.arange(num_speakers), per_speaker)


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(1)
    between, within = _covariances(rng)
    mean = rng.standard_normal(DIM)
    x, labels = _speakers(rng, between, within, 1500, 6, mean)
    return rng, between, within, mean, x, labels


def _relative_error(estimate, truth):
    return np.linalg.norm(estimate - truth) / np.linalg.norm(truth)


def test_em_recovers_known_covariances(synthetic):
    _, between, within, mean, x, labels = synthetic
    mu, between_hat, within_hat = estimate_two_covariance(x, labels, num_iters=10)
    assert _relative_error(between_hat, between) < 0.1
    assert _relative_error(within_hat, within) < 0.05
    assert np.abs(mu - mean).max() < 0.15


def test_plda_beats_cosine_on_gaussian_speakers(synthetic):
    rng, between, within, mean, x, labels = synthetic
    plda = train_plda(x, labels, length_norm=False)
    test_x, _ = _speakers(rng, between, within, 300, 2, mean)
    enroll, test = test_x[0::2], test_x[1::2]
    index = np.arange(300)
    enroll_index = np.concatenate([index, index])
    test_index = np.concatenate([index, np.roll(index, 1)])
    labels = np.concatenate([np.ones(300), np.zeros(300)])
    plda_scores = plda.llr(plda.project(enroll), np.ones(300), plda.project(test), enroll_index, test_index)
    cosine = cosine_scores(enroll - mean, test - mean, enroll_index, test_index)
    plda_eer, cosine_eer = compute_eer(plda_scores, labels).eer, compute_eer(cosine, labels).eer
    assert plda_eer < cosine_eer - 0.03, (plda_eer, cosine_eer)


@pytest.mark.parametrize("num_enroll", [1, 3])
def test_llr_equals_direct_gaussian_formula(synthetic, num_enroll):
    rng, _, _, _, x, labels = synthetic
    plda = train_plda(x[:600], labels[:600], length_norm=False, num_iters=3)
    b, w, mu = plda.between, plda.within, plda.mean
    enroll = rng.standard_normal((num_enroll, DIM)) + mu
    test = rng.standard_normal(DIM) + mu
    # Same speaker: all n+1 vectors share y; joint covariance has B off the diagonal blocks.
    n = num_enroll + 1
    joint_same = np.kron(np.ones((n, n)), b) + np.kron(np.eye(n), w)
    stacked = np.concatenate([*enroll, test]) - np.tile(mu, n)
    enroll_joint = np.kron(np.ones((n - 1, n - 1)), b) + np.kron(np.eye(n - 1), w)
    direct = (multivariate_normal.logpdf(stacked, cov=joint_same)
              - multivariate_normal.logpdf(stacked[:-DIM], cov=enroll_joint)
              - multivariate_normal.logpdf(stacked[-DIM:], cov=b + w))
    projected_mean = plda.project(enroll).mean(axis=0, keepdims=True)
    ours = plda.llr(projected_mean, [num_enroll], plda.project(test[None]), np.array([0]), np.array([0]))
    assert ours[0] == pytest.approx(direct, rel=1e-8, abs=1e-8)


def test_plda_save_load_and_scoring_by_speaker(tmp_path, synthetic):
    _, _, _, _, x, labels = synthetic
    lda = train_lda(x[:900], labels[:900], dim=4)
    plda = train_plda(x[:900], labels[:900], lda=lda, num_iters=3)
    plda.save(tmp_path / "plda.npz")
    loaded = Plda.load(tmp_path / "plda.npz")
    keys = [f"u{i}" for i in range(12)]
    table = EmbeddingTable(keys, x[:12])
    trials = [("s0", "u7", None), ("u3", "u9", None)]
    spk2utt = {"s0": ["u0", "u1", "u2"], "u3": ["u3"]}
    scores = [score_trials(trials, table, table, "plda", plda=p, enroll_spk2utt=spk2utt).scores for p in (plda, loaded)]
    np.testing.assert_allclose(scores[0], scores[1])
    # Enrolment by speaker = LLR with n=3 on the mean in PLDA space.
    projected = plda.project(x[:12])
    expected = plda.llr(projected[:3].mean(axis=0, keepdims=True), [3], projected[7:8], np.array([0]), np.array([0]))
    assert scores[0][0] == pytest.approx(expected[0])


def test_lda_reduces_and_whitens(synthetic):
    _, _, _, _, x, labels = synthetic
    lda = train_lda(x, labels, dim=3)
    y = lda.apply(x)
    assert y.shape == (x.shape[0], 3)
    np.testing.assert_allclose(np.cov(y, rowvar=False, bias=True), np.eye(3), atol=1e-6)
    # The kept directions separate speakers better than the dropped ones would: ratio of between to
    # within variance decreases along the output dims.
    ratios = []
    for d in range(3):
        means = np.array([y[labels == s, d].mean() for s in range(50)])
        within_var = np.mean([y[labels == s, d].var() for s in range(50)])
        ratios.append(means.var() / within_var)
    assert ratios[0] > ratios[2]


def test_train_tools_and_plda_scoring(tmp_path, synthetic):
    _, _, _, _, x, labels = synthetic
    x, labels = x[:300], labels[:300]
    keys = [f"spk{label}-utt{i}" for i, label in enumerate(labels)]
    with TableWriter(f"ark,scp:{tmp_path}/emb.ark,{tmp_path}/emb.scp") as writer:
        for key, row in zip(keys, x):
            writer[key] = row.astype(np.float32)
    (tmp_path / "utt2spk").write_text("".join(f"{k} spk{label}\n" for k, label in zip(keys, labels)))
    (tmp_path / "trials").write_text(f"1 {keys[0]} {keys[1]}\n0 {keys[0]} {keys[10]}\n")
    runner = CliRunner()
    rspec = f"scp:{tmp_path}/emb.scp"
    utt2spk = str(tmp_path / "utt2spk")
    result = runner.invoke(main, ["train-lda", "--utt2spk", utt2spk, "--dim", "4", rspec, str(tmp_path / "lda.npz")])
    assert result.exit_code == 0, result.output
    assert LinearTransform.load(tmp_path / "lda.npz").output_dim == 4
    result = runner.invoke(main, ["train-plda", "--utt2spk", utt2spk, "--lda", str(tmp_path / "lda.npz"),
                                  "--num-iters", "3", rspec, str(tmp_path / "plda.npz")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["score", "--method", "plda", "--plda", str(tmp_path / "plda.npz"),
                                  str(tmp_path / "trials"), rspec, rspec, str(tmp_path / "scores")])
    assert result.exit_code == 0, result.output
    plda = Plda.load(tmp_path / "plda.npz")
    projected = plda.project(x[[0, 1, 10]].astype(np.float32))
    expected = plda.llr(projected[:1], [1], projected[1:], np.array([0, 0]), np.array([0, 1]))
    scored = read_scores(tmp_path / "scores")
    np.testing.assert_allclose(scored.scores, expected, atol=1e-5)
    assert scored.labels.tolist() == [1, 0]
