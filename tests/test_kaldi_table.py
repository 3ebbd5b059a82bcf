"""Kaldi table I/O: wspecifier writing (atomic, compressed, piped) and rspecifier reading."""

import os
import subprocess
import sys

import numpy as np
import pytest

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import atomic_write
from bccmt_tools.io.kaldi_table import TableWriter, read_table, read_table_dict


def test_ark_scp_round_trip_matrices_and_vectors(tmp_path, rng):
    mats = {"a": rng.standard_normal((7, 80)).astype(np.float32), "b": rng.standard_normal(192).astype(np.float32)}
    with TableWriter(f"ark,scp:{tmp_path}/x.ark,{tmp_path}/x.scp") as writer:
        for key, value in mats.items():
            writer[key] = value
    for spec in (f"scp:{tmp_path}/x.scp", f"ark:{tmp_path}/x.ark"):
        loaded = read_table_dict(spec)
        assert list(loaded) == ["a", "b"]
        for key in mats:
            np.testing.assert_array_equal(loaded[key], mats[key])


def test_compressed_matrix_is_close_and_vectors_stay_exact(tmp_path, rng):
    mat = rng.standard_normal((50, 80)).astype(np.float32)
    vec = rng.standard_normal(16).astype(np.float32)
    with TableWriter(f"ark:{tmp_path}/c.ark", compression_method=2) as writer:
        writer["m"] = mat
        writer["v"] = vec
    loaded = read_table_dict(f"ark:{tmp_path}/c.ark")
    assert np.abs(loaded["m"] - mat).max() < 0.05
    np.testing.assert_array_equal(loaded["v"], vec)
    assert os.path.getsize(f"{tmp_path}/c.ark") < mat.nbytes  # really compressed


def test_failed_write_leaves_no_output(tmp_path):
    with pytest.raises(RuntimeError):
        with TableWriter(f"ark,scp:{tmp_path}/y.ark,{tmp_path}/y.scp") as writer:
            writer["a"] = np.zeros((2, 2), dtype=np.float32)
            raise RuntimeError("killed")
    assert sorted(os.listdir(tmp_path)) == []


def test_duplicate_and_invalid_keys_are_errors(tmp_path):
    with pytest.raises(BccmtError, match="duplicated key 'a'"):
        with TableWriter(f"ark:{tmp_path}/d.ark") as writer:
            writer["a"] = np.zeros(2, dtype=np.float32)
            writer["a"] = np.zeros(2, dtype=np.float32)
    with pytest.raises(BccmtError, match="invalid key"):
        with TableWriter(f"ark:{tmp_path}/e.ark") as writer:
            writer["a b"] = np.zeros(2, dtype=np.float32)


def test_missing_scp_entry_names_key(tmp_path):
    (tmp_path / "bad.scp").write_text(f"u1 {tmp_path}/missing.ark:5\n")
    with pytest.raises(BccmtError, match="key 'u1'"):
        list(read_table(f"scp:{tmp_path}/bad.scp"))


def test_truncated_ark_is_reported(tmp_path, rng):
    with TableWriter(f"ark:{tmp_path}/t.ark") as writer:
        writer["u1"] = rng.standard_normal((10, 4)).astype(np.float32)
        writer["u2"] = rng.standard_normal((10, 4)).astype(np.float32)
    data = (tmp_path / "t.ark").read_bytes()
    (tmp_path / "t.ark").write_bytes(data[:-20])
    with pytest.raises(BccmtError, match="t.ark"):
        list(read_table(f"ark:{tmp_path}/t.ark"))


def test_writes_to_stdout_pipe(tmp_path):
    code = (
        "import numpy as np; from bccmt_tools.io.kaldi_table import TableWriter\n"
        "with TableWriter('ark:-') as w: w['k'] = np.arange(6, dtype=np.float32).reshape(2, 3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout
    (tmp_path / "p.ark").write_bytes(out)
    np.testing.assert_array_equal(read_table_dict(f"ark:{tmp_path}/p.ark")["k"], np.arange(6).reshape(2, 3))


def test_bad_specifiers(tmp_path):
    with pytest.raises(BccmtError, match="bad wspecifier"):
        TableWriter(f"{tmp_path}/no-prefix.ark")
    with pytest.raises(BccmtError, match="scp needs a seekable"):
        TableWriter("ark,scp:-,x.scp")


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "utt2spk"
    target.write_text("old\n")
    with pytest.raises(ValueError):
        with atomic_write(target) as handle:
            handle.write("new\n")
            raise ValueError("boom")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["utt2spk"]
