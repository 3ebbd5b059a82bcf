"""bccmt average-model: arithmetic of the last N checkpoints, integer buffers, errors."""

import torch
from click.testing import CliRunner

from bccmt_tools.bin.average_model import cli
from bccmt_tools.train.checkpoint import checkpoint_path, save_checkpoint


def _write_checkpoints(exp, values):
    for epoch, value in enumerate(values, 1):
        save_checkpoint({
            "model": {"w": torch.full((2, 2), float(value)), "bn.num_batches_tracked": torch.tensor(epoch * 10),
                      "half": torch.tensor([value], dtype=torch.float16)},
            "classifier": {"weight": torch.full((3, 2), float(-value))},
            "epoch": epoch, "spk2id": {"a": 0}, "config": {"model": "bccmt", "epoch": epoch},
        }, checkpoint_path(exp, epoch))


def test_average_of_the_last_n(tmp_path):
    exp = tmp_path / "exp"
    _write_checkpoints(exp, [100.0, 1.0, 2.0, 6.0])
    result = CliRunner().invoke(cli, ["--exp", str(exp), "--num", "3"])
    assert result.exit_code == 0, result.output
    averaged = torch.load(exp / "avg_model.pt", weights_only=False)
    assert torch.equal(averaged["model"]["w"], torch.full((2, 2), 3.0))
    assert averaged["model"]["bn.num_batches_tracked"].item() == 40
    assert averaged["model"]["half"].dtype == torch.float16 and averaged["model"]["half"].item() == 3.0
    assert torch.equal(averaged["classifier"]["weight"], torch.full((3, 2), -3.0))
    assert averaged["averaged"] == ["epoch_0002.pt", "epoch_0003.pt", "epoch_0004.pt"]
    assert averaged["config"]["epoch"] == 4 and averaged["spk2id"] == {"a": 0}


def test_too_many_or_no_checkpoints_is_a_clear_error(tmp_path):
    exp = tmp_path / "exp"
    _write_checkpoints(exp, [1.0, 2.0])
    result = CliRunner().invoke(cli, ["--exp", str(exp), "--num", "5", "--out", str(tmp_path / "x.pt")])
    assert result.exit_code == 1 and "only 2 exist" in result.output
    assert not (tmp_path / "x.pt").exists()
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["--exp", str(tmp_path / "empty"), "--num", "1"])
    assert result.exit_code == 1 and "no epoch_*.pt checkpoints" in result.output


def test_out_may_not_replace_a_checkpoint_or_the_config(tmp_path):
    """Issue 23, case 3: --out onto a checkpoint broke --resume; onto config.yaml, the experiment."""
    exp = tmp_path / "exp"
    _write_checkpoints(exp, [1.0, 2.0, 3.0])
    (exp / "config.yaml").write_text("model: bccmt\n")
    before = {path: path.read_bytes() for path in [*exp.glob("checkpoints/*.pt"), exp / "config.yaml"]}
    for out in (exp / "checkpoints" / "epoch_0003.pt", exp / "config.yaml", exp / "checkpoints" / "new.pt"):
        result = CliRunner().invoke(cli, ["--exp", str(exp), "--num", "2", "--out", str(out)])
        assert result.exit_code == 1 and "would replace it" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    assert {path: path.read_bytes() for path in before} == before
    assert not (exp / "checkpoints" / "new.pt").exists()
    link = tmp_path / "link.pt"
    link.symlink_to(exp / "checkpoints" / "epoch_0001.pt")
    assert CliRunner().invoke(cli, ["--exp", str(exp), "--num", "2", "--out", str(link)]).exit_code == 1
    result = CliRunner().invoke(cli, ["--exp", str(exp), "--num", "2", "--out", str(exp / "avg_model.pt")])
    assert result.exit_code == 0, result.output
