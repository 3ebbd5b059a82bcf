"""DDP: a 2-process CPU torchrun (gloo) run completes; both ranks end with rank 0's checkpoint weights."""

import hashlib
import inspect
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

from test_dataset import make_feats_dir

def state_hash(*state_dicts):
    """SHA-256 over the named tensors of state dicts (ranks and checkpoint compared by it)."""
    digest = hashlib.sha256()
    for state in state_dicts:
        for key in sorted(state):
            digest.update(key.encode())
            digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# Each torchrun worker trains, then writes the hash of its final weights (same function as above).
SCRIPT = "import hashlib\n" + inspect.getsource(state_hash) + textwrap.dedent('''
    import os, sys
    import torch, yaml
    from bccmt_tools.train.config import resolve_config
    from bccmt_tools.train.trainer import Trainer

    torch.set_num_threads(1)
    config_path, data, exp = sys.argv[1:4]
    trainer = Trainer(resolve_config(yaml.safe_load(open(config_path))), data, exp, show_progress=False)
    trainer.run()
    rank = os.environ["RANK"]
    with open(os.path.join(exp, f"rank{rank}.sha256"), "w") as handle:
        handle.write(state_hash(trainer.objective.model.state_dict(), trainer.objective.classifier.state_dict()))
''')


@pytest.mark.slow
def test_two_process_torchrun_matches_rank0_checkpoint(tmp_path):
    data = make_feats_dir(tmp_path / "train", num_speakers=3, utts_per_speaker=6)
    config = {"model": "bccmt", "model_conf": {"size": "tiny"},
              "data": {"crop_frames": 24, "batch_size": 3, "num_workers": 0},
              "trainer": {"epochs": 2, "log_interval": 0}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "run.py").write_text(SCRIPT)
    exp = tmp_path / "exp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(tmp_path / "run.py"), str(tmp_path / "train.yaml"), data, str(exp)],
        capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    hashes = [(exp / f"rank{rank}.sha256").read_text() for rank in (0, 1)]
    assert hashes[0] == hashes[1]
    state = torch.load(exp / "checkpoints" / "epoch_0002.pt", weights_only=False)
    assert state_hash(state["model"], state["classifier"]) == hashes[0]
    assert state["step"] == 6  # 18 utterances / 2 ranks / batch 3 = 3 steps per epoch
    log = (exp / "log" / "train.log").read_text()
    assert log.count(" model bccmt:") == 1 and "world size 2" in log
