"""mtface train: a tiny run, resume, and two CPU processes through torchrun (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mtface.core.checkpoint import load_cascade
from mtface.core.training.trainer import TrainConfig, train
from tests.core.test_data import synthetic_set  # noqa: F401 - fixture

TINY_MODEL = {"channels": [8, 8, 16, 16], "patch_channels": [4, 8, 8, 8], "fc_dim": 32}


def _config(root, out, **extra):
    values = {
        "train_dir": str(root / "synth"),
        "val_dir": str(root / "synth"),
        "out_dir": str(out),
        "epochs": 2,
        "stage1_epochs": 1,
        "batch_size": 4,
        "num_workers": 0,
        "model": TINY_MODEL,
        **extra,
    }
    return TrainConfig(**values)


def test_tiny_run_checkpoints_and_resumes(synthetic_set, tmp_path):  # noqa: F811
    root, _ = synthetic_set
    out = tmp_path / "run"
    metrics = train(_config(root, out), log=False)
    assert metrics["epoch"] == 2 and "synthetic_val_mean" in metrics
    history = json.loads((out / "history.json").read_text())
    assert [h["stage"] for h in history] == [1, 2]
    model, meta = load_cascade(out / "best.pt")
    assert meta["epoch"] in (1, 2)
    # a new best.pt drops the refiner and 3d offsets fitted for the old one (ADR 11, ADR 15)
    (out / "best.refine2d.npz").write_bytes(b"stale")
    (out / "best.offsets3d.npz").write_bytes(b"stale")
    train(_config(root, out), log=False, overwrite=True)  # without it: refused
    assert not (out / "best.refine2d.npz").exists()
    assert not (out / "best.offsets3d.npz").exists()
    # resume: one more epoch continues from last.pt
    cfg = _config(root, out)
    cfg.epochs = 3
    metrics = train(cfg, resume=True, log=False)
    assert metrics["epoch"] == 3
    assert len(json.loads((out / "history.json").read_text())) == 3


def test_init_weights_starts_from_a_checkpoint_with_a_fresh_schedule(synthetic_set, tmp_path):  # noqa: F811
    import torch

    root, _ = synthetic_set
    first = tmp_path / "first"
    train(_config(root, first, epochs=1), log=False)
    start, _ = load_cascade(first / "last.pt")
    second = tmp_path / "second"
    cfg = _config(root, second, epochs=1, init_weights=str(first / "last.pt"))
    cfg.max_steps_per_epoch = 0  # no step: the weights must be exactly the starting ones
    train(cfg, log=False)
    after, _ = load_cascade(second / "last.pt")
    for name, tensor in start.state_dict().items():
        assert torch.equal(tensor, after.state_dict()[name]), name
    other = _config(root, tmp_path / "third", epochs=1, init_weights=str(first / "last.pt"))
    other.model = {**TINY_MODEL, "fc_dim": 16}
    with pytest.raises(ValueError, match="differs"):
        train(other, log=False)


def test_config_file_and_overrides(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "meta.json").write_text("{}")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"train_dir": str(tmp_path / "x"), "epochs": 5}))
    cfg = TrainConfig.from_file(path, {"epochs": 7, "out_dir": None})
    assert cfg.epochs == 7 and cfg.out_dir == "runs/default"


@pytest.mark.slow
def test_two_cpu_processes_with_torchrun(synthetic_set, tmp_path):  # noqa: F811
    root, _ = synthetic_set
    cfg = _config(root, tmp_path / "ddp")
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(cfg.__dict__))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "mtface.cli.main",
            "train",
            "--config",
            str(cfg_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((tmp_path / "ddp" / "history.json").read_text())
    assert len(history) == 2
