"""F1: the fbank options feats.scp was computed with (DATA/conf/fbank.yaml) decide the features a
model trained on it states (exp config.yaml, ONNX metadata); data-dir tools carry the record."""

import json

import pytest
import yaml
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.errors import BccmtError
from bccmt_tools.features.fbank import FbankConfig
from bccmt_tools.features.record import read_fbank_record, write_fbank_record
from bccmt_tools.io.datadir import FBANK_RECORD
from bccmt_tools.io.datadir_ops import combine_data_dirs, filter_data_dir, split_data_dir, subset_data_dir
from test_dataset import make_feats_dir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN_CONFIG = {
    "model": "bccmt",
    "model_conf": {"size": "tiny"},
    "data": {"crop_frames": 32, "batch_size": 8, "num_workers": 0},
    "scheduler": {"warmup_epochs": 0.0},
    "trainer": {"epochs": 1, "max_steps_per_epoch": 1, "log_interval": 1},
}


def _config_file(tmp_path, **sections):
    given = dict(TRAIN_CONFIG, **sections)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(given))
    return path


def _train(config_path, data, exp):
    return CliRunner().invoke(main, ["train", "--config", str(config_path), "--data", str(data), "--exp", str(exp),
                                     "--device", "cpu", "--no-progress"])


def test_compute_fbank_writes_the_options_it_used(tmp_path, make_wav):
    wav = make_wav("a.wav", seconds=0.5)
    (tmp_path / "wav.scp").write_text(f"u1 {wav}\n")
    (tmp_path / "fbank.yaml").write_text("low_freq: 40\nnum_mel_bins: 40\n")
    record = tmp_path / "data" / "conf" / "fbank.yaml"
    result = CliRunner().invoke(main, ["compute-fbank", "--config", str(tmp_path / "fbank.yaml"), "--write-config",
                                       str(record), f"scp:{tmp_path}/wav.scp", f"ark:{tmp_path}/f.ark"])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load(record.read_text())
    assert written == FbankConfig(low_freq=40.0, num_mel_bins=40).to_dict()


def test_record_decides_the_trained_and_exported_features(tmp_path):
    data = make_feats_dir(tmp_path / "train")
    write_fbank_record(FbankConfig(low_freq=40.0), f"{data}/{FBANK_RECORD}")
    exp = tmp_path / "exp"
    result = _train(_config_file(tmp_path), data, exp)
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((exp / "config.yaml").read_text())
    assert saved["features"]["low_freq"] == 40.0 and saved["features"]["cmn"] is True
    assert CliRunner().invoke(main, ["average-model", "--exp", str(exp), "--num", "1"]).exit_code == 0
    result = CliRunner().invoke(main, ["export", "--exp", str(exp), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    import onnx

    metadata = {prop.key: prop.value for prop in onnx.load(str(exp / "model.onnx")).metadata_props}
    assert json.loads(metadata["bccmt.features"])["low_freq"] == 40.0


def test_an_explicit_features_section_must_agree_with_the_record(tmp_path):
    data = make_feats_dir(tmp_path / "train")
    write_fbank_record(FbankConfig(low_freq=40.0), f"{data}/{FBANK_RECORD}")
    result = _train(_config_file(tmp_path, features={"low_freq": 20.0}), data, tmp_path / "exp")
    assert result.exit_code != 0
    line = result.output.strip().splitlines()[-1]
    assert "features.low_freq" in line and "20.0" in line and "40.0" in line and FBANK_RECORD in line
    assert not (tmp_path / "exp" / "checkpoints").exists()
    # Agreeing options (and cmn, which the record does not hold) are fine.
    result = _train(_config_file(tmp_path, features={"low_freq": 40, "cmn": False}), data, tmp_path / "exp2")
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "exp2" / "config.yaml").read_text())
    assert saved["features"]["low_freq"] == 40.0 and saved["features"]["cmn"] is False


def test_without_a_record_the_features_are_the_defaults_as_before(tmp_path):
    from bccmt_tools.features.settings import features_section

    data = make_feats_dir(tmp_path / "train")
    result = _train(_config_file(tmp_path), data, tmp_path / "exp")
    assert result.exit_code == 0, result.output
    assert "fbank" not in result.output
    saved = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())
    assert saved["features"] == features_section(FbankConfig(), True)


def test_trainer_refuses_a_config_resolved_without_the_record(tmp_path):
    from bccmt_tools.train.config import resolve_config
    from bccmt_tools.train.trainer import Trainer

    data = make_feats_dir(tmp_path / "train")
    write_fbank_record(FbankConfig(frame_shift=12.0), f"{data}/{FBANK_RECORD}")
    with pytest.raises(BccmtError, match=r"features.frame_shift': 10.0, but the features were computed with 12.0"):
        Trainer(resolve_config(dict(TRAIN_CONFIG)), data, tmp_path / "exp", show_progress=False)


def test_data_dir_tools_carry_the_record_with_feats_scp(tmp_path):
    data = make_feats_dir(tmp_path / "a")
    (tmp_path / "a" / "utt2num_frames").write_text(
        "".join(f"{line.split()[0]} 50\n" for line in (tmp_path / "a" / "feats.scp").read_text().splitlines()))
    write_fbank_record(FbankConfig(low_freq=40.0), f"{data}/{FBANK_RECORD}")
    utts = sorted(line.split()[0] for line in (tmp_path / "a" / "utt2spk").read_text().splitlines())
    subset, _ = subset_data_dir(data, tmp_path / "sub", utts[:6])
    assert read_fbank_record(subset.path).fbank.low_freq == 40.0
    filtered, _ = filter_data_dir(data, tmp_path / "filtered", min_frames=10)
    assert read_fbank_record(filtered.path).fbank.low_freq == 40.0
    job_dirs, _ = split_data_dir(data, 2)
    assert all(read_fbank_record(job).fbank.low_freq == 40.0 for job in job_dirs)
    # Without feats.scp there is nothing to describe: no record (and a stale one is removed).
    (tmp_path / "sub" / "feats.scp").unlink()
    subset_data_dir(tmp_path / "sub", tmp_path / "filtered", utts[:3])
    assert read_fbank_record(tmp_path / "filtered") is None


def test_combining_dirs_with_other_records_is_refused(tmp_path):
    a = make_feats_dir(tmp_path / "a")
    b = make_feats_dir(tmp_path / "b", num_speakers=2)
    for path in (tmp_path / "b").iterdir():  # other utterance ids
        if path.is_file() and path.suffix != ".ark":
            path.write_text(path.read_text().replace("spk", "other"))
    write_fbank_record(FbankConfig(), f"{a}/{FBANK_RECORD}")
    combined, left_out = combine_data_dirs(tmp_path / "ab", [a, b])  # b is an older data dir: no record
    assert left_out == {FBANK_RECORD: [b]} and read_fbank_record(combined.path) is None
    write_fbank_record(FbankConfig(low_freq=40.0), f"{b}/{FBANK_RECORD}")
    with pytest.raises(BccmtError, match=r"key 'low_freq': 40.0, but .* says 20.0"):
        combine_data_dirs(tmp_path / "ab", [a, b])
    write_fbank_record(FbankConfig(), f"{b}/{FBANK_RECORD}")
    combined, _ = combine_data_dirs(tmp_path / "ab", [a, b])
    assert read_fbank_record(combined.path).fbank == FbankConfig()


def test_extraction_refuses_features_computed_otherwise_than_the_models(tmp_path):
    from test_extract import make_exp

    exp = make_exp(tmp_path / "exp")  # default fbank options
    data = make_feats_dir(tmp_path / "test", num_speakers=2, utts_per_speaker=2)
    command = ["extract-embeddings", "--exp", str(exp), "--device", "cpu", f"scp:{data}/feats.scp",
               f"ark:{tmp_path}/emb.ark"]
    write_fbank_record(FbankConfig(low_freq=40.0), f"{data}/{FBANK_RECORD}")
    result = CliRunner().invoke(main, command)
    assert result.exit_code != 0
    assert "the model's features: key 'features.low_freq': 20.0, but the features were computed with 40.0" \
        in result.output
    write_fbank_record(FbankConfig(), f"{data}/{FBANK_RECORD}")
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
