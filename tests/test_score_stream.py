"""`bccmt score` on trial files: chunked reading, pair tables and numpy formatting write exactly what
the in-memory path (read_trials + score_trials + write_scores) writes, errors included."""

import numpy as np
import pytest

from bccmt_tools.backend import score_stream
from bccmt_tools.backend.embeddings import EmbeddingTable
from bccmt_tools.backend.plda import train_plda
from bccmt_tools.backend.score_stream import score_trial_file
from bccmt_tools.backend.scoring import score_trials, write_scores
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.score_format import KeyTable, format_lines
from bccmt_tools.io.trials import read_trials

RNG = np.random.default_rng(7)
KEYS = [f"id1{i // 4:04d}-vid{i % 4}-0000{i % 3}" for i in range(24)]
TABLE = EmbeddingTable(KEYS, RNG.standard_normal((24, 16)) + np.repeat(RNG.standard_normal((6, 16)), 4, axis=0),
                       where="emb.scp")


def _trial_text(fmt, count=600, keys=KEYS, seed=0):
    rng = np.random.default_rng(seed)
    lines = []
    for a, b in rng.integers(0, len(keys), (count, 2)).tolist():
        target = a // 4 == b // 4
        if fmt == "kaldi":
            lines.append(f"{keys[a]} {keys[b]} {'target' if target else 'nontarget'}")
        elif fmt == "voxceleb":
            lines.append(f"{int(target)} {keys[a]} {keys[b]}")
        else:
            lines.append(f"{keys[a]} {keys[b]}")
    return "\n".join(lines) + "\n"


def _reference(path, tmp_path, **kwargs):
    out = tmp_path / "reference"
    voxceleb = kwargs.pop("map_voxceleb_paths", False)
    write_scores(out, score_trials(read_trials(path, map_voxceleb_paths=voxceleb), TABLE, TABLE,
                                   trials_where=str(path), **kwargs))
    return out.read_bytes()


def _streamed(path, tmp_path, chunk_bytes=256, **kwargs):
    out = tmp_path / "streamed"
    score_trial_file(path, TABLE, TABLE, out, chunk_bytes=chunk_bytes, **kwargs)
    return out.read_bytes()


@pytest.mark.parametrize("fmt", ["kaldi", "voxceleb", "plain"])
@pytest.mark.parametrize("method", ["cosine", "asnorm", "plda"])
def test_streamed_scores_equal_the_in_memory_path(tmp_path, fmt, method):
    path = tmp_path / "trials"
    path.write_text(_trial_text(fmt))
    options = {"method": method}
    if method == "asnorm":
        options.update(cohort=TABLE, top_n=5)
    if method == "plda":
        options.update(plda=train_plda(TABLE.matrix, np.arange(24) // 4, num_iters=3))
    expected = _reference(path, tmp_path, **options)
    assert _streamed(path, tmp_path, **options) == expected
    assert _streamed(path, tmp_path, chunk_bytes=1 << 20, **options) == expected  # one chunk, pair table
    assert len(expected.splitlines()) == 600


def test_pair_table_and_direct_scoring_agree(tmp_path, monkeypatch):
    path = tmp_path / "trials"
    path.write_text(_trial_text("kaldi", count=2000))
    expected = _reference(path, tmp_path)
    monkeypatch.setattr(score_stream, "PAIR_TABLE_LIMIT", 0)  # never a table
    assert _streamed(path, tmp_path) == expected


def test_trials_spooled_to_disk_give_the_same_scores(tmp_path, monkeypatch):
    path = tmp_path / "trials"
    path.write_text(_trial_text("voxceleb"))
    monkeypatch.setattr(score_stream, "SPOOL_TRIALS", 50)
    assert _streamed(path, tmp_path) == _reference(path, tmp_path)


def test_missing_keys_error_or_skip_like_score_trials(tmp_path, capsys):
    path = tmp_path / "trials"
    path.write_text(_trial_text("kaldi", count=300) + "unknown-utt " + KEYS[0] + " target\n"
                    + _trial_text("kaldi", count=5, seed=3))
    with pytest.raises(BccmtError) as expected:
        _reference(path, tmp_path)
    with pytest.raises(BccmtError) as got:
        _streamed(path, tmp_path)
    assert got.value.message == expected.value.message and "unknown-utt" in got.value.message
    reference = _reference(path, tmp_path, skip_missing=True)
    reference_warning = capsys.readouterr().err
    assert _streamed(path, tmp_path, skip_missing=True) == reference
    assert capsys.readouterr().err == reference_warning and "skipped 1 of 306" in reference_warning


@pytest.mark.parametrize("text, where", [
    ("a b target\nc d\n", "malformed"),
    ("1 a b\na b target\n", "mixed"),
    ("", "empty"),
])
def test_malformed_trial_lists_fail_with_the_line_readers_error(tmp_path, text, where):
    path = tmp_path / "trials"
    path.write_text(_trial_text("kaldi", count=50) + text if where != "empty" else "\n \n")
    with pytest.raises(BccmtError) as expected:
        read_trials(path)
    with pytest.raises(BccmtError) as got:
        _streamed(path, tmp_path, skip_missing=True)
    assert got.value.message == expected.value.message


def test_unusual_text_is_read_like_the_line_reader(tmp_path):
    """CRLF and lone CR line ends, blank lines, tabs, non-ASCII keys, VoxCeleb paths."""
    keys = [f"sp\u00e9aker{i // 4}/vid\u00e9o/{i:05d}.wav" for i in range(24)]
    table = EmbeddingTable([f"sp\u00e9aker{i // 4}-vid\u00e9o-{i:05d}" for i in range(24)], TABLE.matrix)
    text = _trial_text("voxceleb", keys=keys).replace("\n", "\r\n", 100).replace(" ", "\t", 40)
    path = tmp_path / "trials"
    path.write_text(_trial_text("voxceleb", count=100, keys=keys) + "\n  \n" + text + "1\t" + keys[0] + " "
                    + keys[1] + "\r", encoding="utf-8", newline="")
    out_reference, out_streamed = tmp_path / "ref", tmp_path / "str"
    write_scores(out_reference, score_trials(read_trials(path, map_voxceleb_paths=True), table, table))
    score_trial_file(path, table, table, out_streamed, chunk_bytes=300, map_voxceleb_paths=True)
    assert out_streamed.read_bytes() == out_reference.read_bytes()


def test_score_lines_are_formatted_as_python_formats_them():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(5000), rng.standard_normal(500) * 1e5,
                             np.round(rng.standard_normal(500), 7) + 5e-7,  # ties at the 6th decimal
                             [0.0, -0.0, -1e-9, 0.5e-6, 2.5e-6, 999999.9999995, 1e15, np.nan, np.inf, -np.inf]])
    table = KeyTable(["a", "bcd", "\u00e9"])
    enroll, test = rng.integers(0, 3, values.size), rng.integers(0, 3, values.size)
    labels = rng.integers(0, 2, values.size).astype(np.int8)
    names, keys = ("nontarget", "target"), ["a", "bcd", "\u00e9"]
    for precision in (6, 2):
        expected = "".join(f"{keys[e]} {keys[t]} {v:.{precision}f} {names[l]}\n" for e, t, v, l in
                           zip(enroll.tolist(), test.tolist(), values.tolist(), labels.tolist()))
        assert format_lines(table, enroll, table, test, values, labels, precision).decode() == expected
    expected = "".join(f"{keys[e]} {keys[t]} {v:.6f}\n" for e, t, v in zip(enroll.tolist(), test.tolist(),
                                                                            values.tolist()))
    assert format_lines(table, enroll, table, test, values).decode() == expected


def test_unusual_text_after_regular_chunks(tmp_path):
    """The first chunks take the fast path; a later one holds a lone CR and a non-ASCII key."""
    keys = KEYS[:-1] + ["caf\u00e9-utt"]
    table = EmbeddingTable(keys, TABLE.matrix)
    path = tmp_path / "trials"
    path.write_text(_trial_text("kaldi", count=200, keys=KEYS[:-1]) + f"{keys[0]} {keys[-1]} target\r"
                    + f"{keys[-1]} {keys[3]} nontarget\n" + _trial_text("kaldi", count=20, keys=keys),
                    encoding="utf-8", newline="")
    out_reference, out_streamed = tmp_path / "ref", tmp_path / "str"
    write_scores(out_reference, score_trials(read_trials(path), table, table))
    score_trial_file(path, table, table, out_streamed, chunk_bytes=512)
    assert out_streamed.read_bytes() == out_reference.read_bytes()
    assert len(out_streamed.read_bytes().splitlines()) == 222
