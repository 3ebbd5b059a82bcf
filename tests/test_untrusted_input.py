"""Files from elsewhere are data, never a program (issue 13): checkpoints whose pickle would run
code, wav.scp/feats.scp pipes, archives with chained links; and outputs: a folder we cannot write
to fails first with one line, temporaries of killed runs are cleaned on the next run."""

import os
import random
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.audio import read_audio
from bccmt_tools.io.kaldi_table import TableWriter, read_table
from bccmt_tools.io.pipes import NO_PIPES_ENV
from bccmt_tools.train.checkpoint import load_checkpoint
from bccmt_tools.train.rng import capture_rng_state, restore_rng_state
from test_dataset import make_feats_dir
from test_extract import make_exp
from test_train import tiny_config

# Every invocation restores BCCMT_NO_PIPES to unset afterwards (--no-pipes sets it in-process).
CLEAN_ENV = {NO_PIPES_ENV: None}


def bccmt(*args):
    return CliRunner().invoke(main, [str(a) for a in args], env=CLEAN_ENV)


class RunsCode:
    """Pickles as a call of os.system: loading it with weights_only=False would run the command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def crafted_checkpoint(path, marker):
    """A checkpoint-looking file whose unpickling would create ``marker``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": RunsCode(f"touch {marker}"), "epoch": 1}, path)
    return path


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def evil_exp(tmp_path):
    """An experiment dir (valid config.yaml) whose avg_model.pt and epoch checkpoint run code."""
    exp = make_exp(tmp_path / "evil_exp")
    marker = tmp_path / "PWNED"
    crafted_checkpoint(exp / "avg_model.pt", marker)
    crafted_checkpoint(exp / "checkpoints" / "epoch_0001.pt", marker)
    return exp, marker


def _one_line_refusal(result, path):
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and str(path) in errors[0], result.output
    assert "refused" in errors[0] and "system" in errors[0], errors[0]
    assert "Traceback" not in result.output


def test_crafted_checkpoint_is_refused_by_every_loader_and_never_runs(evil_exp, tmp_path, make_wav):
    exp, marker = evil_exp
    wav_scp = tmp_path / "wav.scp"
    wav_scp.write_text(f"a {make_wav('a.wav')}\nb {make_wav('b.wav', freq=400)}\n")
    (tmp_path / "trials").write_text("a b\n")
    avg = exp / "avg_model.pt"
    for args, path in (
            (["extract-embeddings", "--exp", exp, "--input-type", "wav", "--device", "cpu", f"scp:{wav_scp}",
              f"ark,t:{tmp_path / 'emb.txt'}"], avg),
            (["verify", "--exp", exp, "--device", "cpu", "--wav-scp", wav_scp, "--trials", tmp_path / "trials"], avg),
            (["export", "--exp", exp, "--format", "onnx", "--out", tmp_path / "m.onnx"], avg),
            (["average-model", "--exp", exp, "--num", 1, "--out", tmp_path / "avg.pt"],
             exp / "checkpoints" / "epoch_0001.pt")):
        result = bccmt(*args)
        _one_line_refusal(result, path)
        assert not marker.exists(), args
    with pytest.raises(BccmtError, match="refused: loading it would call or import posix.system"):
        load_checkpoint(avg)
    assert not marker.exists()


def test_crafted_teacher_and_resume_checkpoints_are_refused(evil_exp, tmp_path):
    from bccmt_tools.train.trainer import Trainer

    exp, marker = evil_exp
    data = make_feats_dir(tmp_path / "train", num_speakers=2, utts_per_speaker=4)
    config = tiny_config(trainer={"epochs": 1})
    with pytest.raises(BccmtError, match="avg_model.pt: refused"):
        Trainer(config, data, tmp_path / "student", teacher_dir=exp, show_progress=False)
    with pytest.raises(BccmtError, match="epoch_0001.pt: refused"):
        Trainer(config, data, exp, resume=True, show_progress=False)
    assert not marker.exists()


def test_a_plain_pickle_that_runs_code_is_refused_too(tmp_path):
    import pickle

    marker = tmp_path / "PWNED"
    path = tmp_path / "legacy.pt"
    with open(path, "wb") as handle:
        pickle.dump({"model": RunsCode(f"touch {marker}")}, handle)
    with pytest.raises(BccmtError, match="legacy.pt: refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_new_checkpoints_hold_plain_data_and_old_ones_still_load(tmp_path):
    from bccmt_tools.train.trainer import Trainer

    data = make_feats_dir(tmp_path / "train", num_speakers=2, utts_per_speaker=4)
    Trainer(tiny_config(trainer={"epochs": 1}), data, tmp_path / "exp", show_progress=False).run()
    saved = tmp_path / "exp" / "checkpoints" / "epoch_0001.pt"
    assert torch.serialization.get_unsafe_globals_in_checkpoint(saved) == []  # nothing beyond plain data
    state = load_checkpoint(saved)
    # A checkpoint of an earlier version: numpy's RNG state tuple with its uint32 array.
    np.random.seed(5)
    random.seed(5)
    old = dict(state, rng={"python": random.getstate(), "numpy": np.random.get_state(),
                           "torch": torch.get_rng_state()})
    torch.save(old, tmp_path / "old.pt")
    loaded = load_checkpoint(tmp_path / "old.pt")
    expected = (np.random.rand(), random.random())
    np.random.seed(0)
    random.seed(0)
    restore_rng_state(loaded["rng"])
    assert (np.random.rand(), random.random()) == expected
    # And the plain form restores the same states.
    restore_rng_state(loaded["rng"])
    plain = capture_rng_state()
    torch.save({"rng": plain}, tmp_path / "plain.pt")
    restore_rng_state(torch.load(tmp_path / "plain.pt", weights_only=True)["rng"])
    assert (np.random.rand(), random.random()) == expected


# ---- pipes in wav.scp / feats.scp ------------------------------------------------------------------

def test_no_pipes_refuses_commands_in_tables(tmp_path, make_wav, monkeypatch):
    wav = make_wav("a.wav")
    marker = tmp_path / "RAN"
    command = f"touch {marker}; cat {wav} |"
    (tmp_path / "wav.scp").write_text(f"a {wav}\nb {command}\n")
    monkeypatch.setenv(NO_PIPES_ENV, "1")
    with pytest.raises(BccmtError, match="key 'b': refusing to run the command"):
        read_audio(command, where="wav.scp: key 'b'")
    with TableWriter(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/f.scp") as writer:
        writer["u"] = np.zeros((3, 2), dtype=np.float32)
    (tmp_path / "feats.scp").write_text(f"u touch {marker}; cat {tmp_path}/f.ark |\n")
    with pytest.raises(BccmtError, match="feats.scp: key 'u': refusing to run"):
        list(read_table(f"scp:{tmp_path}/feats.scp"))
    monkeypatch.delenv(NO_PIPES_ENV)
    assert not marker.exists()

    out = tmp_path / "fbank"
    result = bccmt("compute-fbank", "--no-pipes", f"scp:{tmp_path}/wav.scp", f"ark,scp:{out}.ark,{out}.scp")
    assert result.exit_code == 1 and "key 'b': refusing to run the command" in result.output, result.output
    assert not marker.exists() and not Path(f"{out}.ark").exists()
    assert NO_PIPES_ENV not in os.environ
    result = bccmt("compute-fbank", f"scp:{tmp_path}/wav.scp", f"ark,scp:{out}.ark,{out}.scp")  # trusted: runs
    assert result.exit_code == 0 and marker.exists(), result.output


@pytest.mark.parametrize("suffix", [":26", "[0:2]", ":26[0:2]"])
def test_no_pipes_refuses_piped_archives_with_an_offset_or_a_slice(tmp_path, monkeypatch, suffix):
    """kaldiio opens 'cmd |:offset' and 'cmd |[slice]' through /bin/sh too (issue 23, case 1)."""
    data = Path(make_feats_dir(tmp_path / "d", num_speakers=2, utts_per_speaker=2))
    marker = tmp_path / "PWN"
    first_key, first_value = (data / "feats.scp").read_text().splitlines()[0].split(" ", 1)
    evil = f"touch {marker}; cat {data}/feats.ark |{suffix}"
    lines = (data / "feats.scp").read_text().splitlines()
    (data / "feats.scp").write_text("\n".join([f"{first_key} {evil}"] + lines[1:]) + "\n")
    exp = make_exp(tmp_path / "exp")
    out = tmp_path / "emb"
    result = bccmt("extract-embeddings", "--no-pipes", "--exp", exp, f"scp:{data}/feats.scp",
                   f"ark,scp:{out}.ark,{out}.scp")
    assert result.exit_code == 1 and f"key {first_key!r}: refusing to run the command" in result.output, result.output
    result = bccmt("validate-data-dir", "--no-pipes", data)
    assert result.exit_code == 1 and "a shell command" in result.output, result.output
    monkeypatch.setenv(NO_PIPES_ENV, "1")
    from bccmt_tools.data.dataset import FeatsCropDataset
    dataset = FeatsCropDataset(data, crop_frames=10)
    with pytest.raises(BccmtError, match="refusing to run the command"):
        dataset[(dataset.table.utts.index(first_key), 0)]
    with pytest.raises(BccmtError, match="refusing to run the command"):
        read_audio(evil, where="wav.scp: key 'u'")
    assert not marker.exists()


@pytest.mark.parametrize("rspecifier", ["ark:touch {marker}; cat {ark} |", "scp:touch {marker}; cat {scp} |"])
def test_no_pipes_refuses_a_command_as_the_rspecifier_itself(tmp_path, rspecifier):
    data = Path(make_feats_dir(tmp_path / "d", num_speakers=2, utts_per_speaker=2))
    marker = tmp_path / "PWN"
    spec = rspecifier.format(marker=marker, ark=data / "feats.ark", scp=data / "feats.scp")
    out = tmp_path / "emb"
    exp = make_exp(tmp_path / "exp")
    result = bccmt("extract-embeddings", "--no-pipes", "--exp", exp, spec, f"ark,scp:{out}.ark,{out}.scp")
    assert result.exit_code == 1 and "refusing to run the command" in result.output, result.output
    assert not marker.exists()


def test_validate_data_dir_documents_and_reports_pipes(tmp_path, make_wav):
    data = tmp_path / "d"
    data.mkdir()
    wav = make_wav("s1-a.wav")
    (data / "wav.scp").write_text(f"s1-a {wav}\ns1-b cat {wav} |\n")
    (data / "utt2spk").write_text("s1-a s1\ns1-b s1\n")
    (data / "spk2utt").write_text("s1 s1-a s1-b\n")
    assert bccmt("validate-data-dir", data).exit_code == 0
    result = bccmt("validate-data-dir", "--no-pipes", data)
    assert result.exit_code == 1 and "key 's1-b': a shell command" in result.output, result.output
    help_text = " ".join(bccmt("validate-data-dir", "--help").output.split())
    assert "/bin/sh" in help_text and "--no-pipes" in help_text


# ---- archives: a chain of links without tarfile's data filter ------------------------------------

def test_link_chain_is_refused_without_the_tarfile_data_filter(tmp_path, monkeypatch):
    import io
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "egs" / "voxceleb" / "local"))
    import download_corpus

    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        for name, target in (("minivox/up", ".."), ("minivox/up2", "up/..")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        info = tarfile.TarInfo("minivox/up2/evil.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"owned"))
    monkeypatch.delattr(tarfile, "data_filter", raising=False)  # as on Python 3.10.0 - 3.10.11
    out = tmp_path / "box" / "out"
    out.mkdir(parents=True)
    with pytest.raises(BccmtError, match="link 'minivox/up2' -> 'up/..' leaves the extraction folder"):
        download_corpus.extract(archive, out)
    assert not (tmp_path / "box" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


# ---- outputs ----------------------------------------------------------------------------------------

def unwritable_folder(tmp_path):
    """A folder this process cannot create files in (permission bits do not stop root: use /sys)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    folder = Path("/sys")
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return folder
    os.close(fd)
    os.unlink(probe)
    pytest.skip("no unwritable folder available to root here")


def test_read_only_output_folder_fails_first_with_one_line(tmp_path, make_wav):
    exp = make_exp(tmp_path / "exp")
    wav_scp = tmp_path / "wav.scp"
    wav_scp.write_text(f"a {make_wav('a.wav')}\nb {make_wav('b.wav', freq=400)}\n")
    (tmp_path / "trials").write_text("a b\n")
    folder = unwritable_folder(tmp_path)
    out = folder / "decisions.txt"
    result = bccmt("verify", "--exp", exp, "--device", "cpu", "--wav-scp", wav_scp, "--trials", tmp_path / "trials",
                   "--threshold", "0.5", "--out", out)
    assert result.exit_code == 1 and not isinstance(result.exception, OSError), result.output
    assert result.output.startswith(f"Error: {out}: cannot write the decisions: {folder} is not writable")
    assert len(result.output.strip().splitlines()) == 1 and "verify:" not in result.output  # before any work
    result = bccmt("extract-embeddings", "--exp", exp, "--input-type", "wav", "--device", "cpu", f"scp:{wav_scp}",
                   f"ark,scp:{folder}/emb.ark,{folder}/emb.scp")
    assert result.exit_code == 1 and "emb.ark: cannot write here" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_temporaries_of_a_killed_run_are_removed_by_the_next(tmp_path, make_wav):
    (tmp_path / "wav.scp").write_text(f"a {make_wav('a.wav')}\n")
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".raw.ark.k1ll3d_1.tmp", out / ".raw.scp.x9y8z7w6.tmp", out / ".utt2num_frames.abcdefgh.tmp"]
    unrelated = [out / ".raw.ark.scp.abcdefgh.tmp", out / ".other.ark.abcdefgh.tmp", out / "raw.ark.notes.tmp"]
    for path in stale + unrelated:
        path.write_bytes(b"x" * 100)
    result = bccmt("compute-fbank", "--write-num-frames", f"ark,t:{out}/utt2num_frames", f"scp:{tmp_path}/wav.scp",
                   f"ark,scp:{out}/raw.ark,{out}/raw.scp")
    assert result.exit_code == 0, result.output
    assert [path for path in stale if path.exists()] == []
    assert all(path.exists() for path in unrelated)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "raw.ark", "raw.ark.notes.tmp", "raw.scp", "utt2num_frames"]
