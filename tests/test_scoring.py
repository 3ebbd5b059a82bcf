"""Cosine and AS-norm scoring against direct numpy formulas, enrolment by speaker, trial formats."""

import numpy as np
import pytest
from click.testing import CliRunner

from bccmt_tools.backend.embeddings import EmbeddingTable, load_embeddings, speaker_means
from bccmt_tools.backend.scoring import read_scores, score_trials, write_scores
from bccmt_tools.cli import main
from bccmt_tools.io.kaldi_table import TableWriter


def _unit(v):
    return v / np.linalg.norm(v)


@pytest.fixture
def table(rng):
    keys = [f"spk{i // 4}-utt{i}" for i in range(40)]
    return EmbeddingTable(keys, rng.standard_normal((40, 16)), where="emb")


@pytest.fixture
def trials(rng):
    pairs = rng.integers(0, 40, (300, 2))
    return [(f"spk{a // 4}-utt{a}", f"spk{b // 4}-utt{b}", int(a // 4 == b // 4)) for a, b in pairs]


def test_cosine_matches_numpy(table, trials):
    scored = score_trials(trials, table, table, "cosine", chunk_size=7)  # several chunks
    expected = [_unit(table.row(e)) @ _unit(table.row(t)) for e, t, _ in trials]
    np.testing.assert_allclose(scored.scores, expected, rtol=1e-12, atol=1e-12)
    assert scored.enroll == [t[0] for t in trials] and scored.labels.tolist() == [t[2] for t in trials]


def test_cosine_with_mean_subtraction(table, trials):
    mean = table.matrix.mean(axis=0)
    scored = score_trials(trials, table, table, "cosine", mean_vector=mean)
    expected = [_unit(table.row(e) - mean) @ _unit(table.row(t) - mean) for e, t, _ in trials]
    np.testing.assert_allclose(scored.scores, expected, rtol=1e-12, atol=1e-12)


def test_asnorm_matches_direct_formula(table, trials, rng):
    cohort = EmbeddingTable([f"c{i}" for i in range(25)], rng.standard_normal((25, 16)), where="cohort")
    top_n = 6
    scored = score_trials(trials, table, table, "asnorm", cohort=cohort, top_n=top_n)

    def stats(key):
        cohort_scores = np.array([_unit(table.row(key)) @ _unit(c) for c in cohort.matrix])
        top = np.sort(cohort_scores)[-top_n:]
        return top.mean(), top.std()

    expected = []
    for e, t, _ in trials:
        raw = _unit(table.row(e)) @ _unit(table.row(t))
        (me, se), (mt, st) = stats(e), stats(t)
        expected.append(0.5 * ((raw - me) / se + (raw - mt) / st))
    np.testing.assert_allclose(scored.scores, expected, rtol=1e-10, atol=1e-10)


def test_enrolment_by_speaker_averages_unit_vectors(table):
    spk2utt = {"spk0": ["spk0-utt0", "spk0-utt1", "spk0-utt2"]}
    scored = score_trials([("spk0", "spk1-utt5", None)], table, table, "cosine", enroll_spk2utt=spk2utt)
    mean = np.mean([_unit(table.row(u)) for u in spk2utt["spk0"]], axis=0)
    assert scored.scores[0] == pytest.approx(_unit(mean) @ _unit(table.row("spk1-utt5")))
    assert scored.labels is None


def test_speaker_means_counts_and_normalisation(table):
    means = speaker_means(table, {"spk1": ["spk1-utt4", "spk1-utt5"]}, normalize_first=True)
    assert means.keys == ["spk1"] and means.counts.tolist() == [2]
    expected = (_unit(table.row("spk1-utt4")) + _unit(table.row("spk1-utt5"))) / 2
    np.testing.assert_allclose(means.matrix[0], expected)
    raw = speaker_means(table, {"spk1": ["spk1-utt4", "spk1-utt5"]})  # default: raw means
    np.testing.assert_allclose(raw.matrix[0], (table.row("spk1-utt4") + table.row("spk1-utt5")) / 2)


def test_asnorm_cohort_of_speaker_means_shares_the_mean_vector_space(rng):
    """Speaker means and the global mean from one mean-embeddings run must be compatible: with
    mean subtraction, cohort statistics computed from the means equal those of the centred means."""
    from bccmt_tools.backend.embeddings import EmbeddingTable

    offset = np.full(8, 20.0)  # embeddings far from the origin, as trained models give
    keys = [f"s{s}-u{u}" for s in range(6) for u in range(4)]
    matrix = offset + rng.standard_normal((24, 8))
    table = EmbeddingTable(keys, matrix, where="synthetic")
    spk2utt = {f"s{s}": [f"s{s}-u{u}" for u in range(4)] for s in range(6)}
    means = speaker_means(table, spk2utt)
    centred = means.matrix - matrix.mean(axis=0)
    # The raw means minus the global mean are centred (their mean is ~0), not all near -offset.
    assert np.abs(centred.mean(axis=0)).max() < 1e-9
    assert np.linalg.norm(centred, axis=1).max() < np.linalg.norm(offset)


def test_scores_round_trip(tmp_path, table, trials):
    scored = score_trials(trials, table, table)
    write_scores(tmp_path / "scores", scored)
    back = read_scores(tmp_path / "scores")
    assert back.enroll == scored.enroll and back.labels.tolist() == scored.labels.tolist()
    np.testing.assert_allclose(back.scores, scored.scores, atol=1e-6)


def _write_table(path, table):
    with TableWriter(f"ark,scp:{path}.ark,{path}.scp") as writer:
        for key, row in zip(table.keys, table.matrix):
            writer[key] = row.astype(np.float32)
    return f"scp:{path}.scp"


@pytest.mark.parametrize("fmt", ["voxceleb", "kaldi", "plain", "voxceleb-paths"])
def test_score_tool_reads_every_trial_format(tmp_path, table, fmt):
    rspec = _write_table(tmp_path / "emb", table)
    pairs = [("spk0-utt0", "spk0-utt1", 1), ("spk0-utt0", "spk3-utt12", 0)]
    lines = {
        "voxceleb": [f"{label} {e} {t}" for e, t, label in pairs],
        "kaldi": [f"{e} {t} {'target' if label else 'nontarget'}" for e, t, label in pairs],
        "plain": [f"{e} {t}" for e, t, _ in pairs],
        "voxceleb-paths": [f"{label} {e.replace('-', '/', 1)}/00001.wav {t.replace('-', '/', 1)}/00001.wav"
                           for e, t, label in pairs],
    }[fmt]
    (tmp_path / "trials").write_text("\n".join(lines) + "\n")
    if fmt == "voxceleb-paths":  # id/video/00001.wav -> id-video-00001
        table = EmbeddingTable([f"{k}-00001" for k in table.keys], table.matrix, where="emb")
        rspec = _write_table(tmp_path / "emb2", table)
        pairs = [(f"{e}-00001", f"{t}-00001", label) for e, t, label in pairs]
    extra = ["--voxceleb-paths"] if fmt == "voxceleb-paths" else []
    out = tmp_path / "scores"
    result = CliRunner().invoke(main, ["score", *extra, str(tmp_path / "trials"), rspec, rspec, str(out)])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in out.read_text().splitlines()]
    assert [r[:2] for r in rows] == [[e, t] for e, t, _ in pairs]
    expected = [_unit(table.row(e)) @ _unit(table.row(t)) for e, t, _ in pairs]
    np.testing.assert_allclose([float(r[2]) for r in rows], expected, atol=1e-6)
    if fmt == "plain":
        assert all(len(r) == 3 for r in rows)
    else:
        assert [r[3] for r in rows] == ["target", "nontarget"]


def test_score_tool_asnorm_with_mean_and_cohort_means(tmp_path, table, trials):
    rspec = _write_table(tmp_path / "emb", table)
    (tmp_path / "trials").write_text("".join(f"{e} {t}\n" for e, t, _ in trials[:20]))
    (tmp_path / "spk2utt").write_text("".join(f"spk{s} " + " ".join(f"spk{s}-utt{4 * s + j}" for j in range(4)) + "\n"
                                              for s in range(10)))
    runner = CliRunner()
    result = runner.invoke(main, ["mean-embeddings", "--spk2utt", str(tmp_path / "spk2utt"), "--global-mean-out",
                                  str(tmp_path / "mean.vec"), "--num-utts-out", str(tmp_path / "num_utts"), rspec,
                                  f"ark,scp:{tmp_path}/spk.ark,{tmp_path}/spk.scp"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "num_utts").read_text().splitlines()[0] == "spk0 4"
    result = runner.invoke(main, ["score", "--method", "asnorm", "--cohort", f"scp:{tmp_path}/spk.scp", "--top-n", "5",
                                  "--mean-vector", str(tmp_path / "mean.vec"), str(tmp_path / "trials"), rspec, rspec,
                                  str(tmp_path / "scores")])
    assert result.exit_code == 0, result.output
    cohort = load_embeddings(f"scp:{tmp_path}/spk.scp")
    mean = table.matrix.mean(axis=0)
    direct = score_trials(trials[:20], table, table, "asnorm", cohort=cohort, top_n=5, mean_vector=mean)
    np.testing.assert_allclose(read_scores(tmp_path / "scores").scores, direct.scores, atol=1e-5)
