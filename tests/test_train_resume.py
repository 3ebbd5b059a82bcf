"""Resume: a run stopped after epoch 1 and resumed equals an uninterrupted 2-epoch run (CPU, fixed seed)."""

import pytest
import torch

from bccmt_tools.errors import BccmtError
from bccmt_tools.train.trainer import Trainer
from test_dataset import make_feats_dir
from test_train import tiny_config


def _state(exp, epoch):
    return torch.load(exp / "checkpoints" / f"epoch_{epoch:04d}.pt", weights_only=False)


def test_one_plus_one_epochs_resumed_equals_two_epochs(tmp_path):
    torch.set_num_threads(1)
    data = make_feats_dir(tmp_path / "train")
    # Dropout on, a margin and lambda-free schedule that move per step, one DataLoader worker.
    config = tiny_config(data={"num_workers": 1}, scheduler={"warmup_epochs": 0.5},
                         loss={"margin_warmup": {"start_epoch": 0, "end_epoch": 2}})
    Trainer(config, data, tmp_path / "straight", show_progress=False).run()
    first = Trainer(config, data, tmp_path / "resumed", stop_after=1, show_progress=False)
    first.run()
    assert not (tmp_path / "resumed" / "checkpoints" / "epoch_0002.pt").exists()
    torch.manual_seed(999)  # a resumed process starts with other RNG states
    Trainer(dict(config, data=dict(config["data"], num_workers=0)), data, tmp_path / "resumed", resume=True,
            show_progress=False).run()
    straight, resumed = _state(tmp_path / "straight", 2), _state(tmp_path / "resumed", 2)
    for part in ("model", "classifier"):
        for key, value in straight[part].items():
            assert torch.allclose(value.double(), resumed[part][key].double(), atol=1e-6, rtol=0), key
    assert straight["scheduler"] == resumed["scheduler"] and straight["step"] == resumed["step"] == 6
    log = (tmp_path / "resumed" / "log" / "train.log").read_text()
    assert "resumed from" in log


def test_resume_refuses_a_changed_config(tmp_path):
    torch.set_num_threads(1)
    data = make_feats_dir(tmp_path / "train", num_speakers=2, utts_per_speaker=4)
    config = tiny_config(trainer={"epochs": 1})
    Trainer(config, data, tmp_path / "exp", show_progress=False).run()
    changed = dict(config, optim=dict(config["optim"], lr=0.1))
    with pytest.raises(BccmtError, match="cannot resume: the config differs .* optim.lr"):
        Trainer(changed, data, tmp_path / "exp", resume=True, show_progress=False)
