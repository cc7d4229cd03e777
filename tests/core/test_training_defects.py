"""Issue 21's training defects: a run never replaces another silently, fails at the start on
what would stop it later, says what it wrote and which file to use, and never writes a 2D
refiner that makes the held-out error worse. docs/bad_inputs.md lists them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from mtface.cli.main import main
from mtface.core.model_file import load_model
from mtface.core.refine2d import POINT_FEATURES, Refiner2D, RefineStage
from mtface.core.training.config import ConfigError
from mtface.core.training.refine2d_fit import RefinerFitReport
from mtface.core.training.trainer import TrainConfig, fit_refiner_beside, train
from tests.core.test_data import synthetic_set  # noqa: F401 - fixture
from tests.core.test_training import TINY_MODEL


def _config(root: Path, out: Path, **extra) -> TrainConfig:
    values = {
        "train_dir": str(root / "synth"),
        "val_dir": str(root / "synth"),
        "out_dir": str(out),
        "epochs": 1,
        "stage1_epochs": 1,
        "batch_size": 4,
        "num_workers": 0,
        "max_steps_per_epoch": 1,
        "val_limit": 2,
        "model": TINY_MODEL,
        **extra,
    }
    return TrainConfig(**values)


def test_a_rerun_into_the_same_out_dir_is_refused(synthetic_set, tmp_path, capsys):  # noqa: F811
    root, _ = synthetic_set
    out = tmp_path / "run"
    train(_config(root, out), log=False)
    (out / "best.offsets3d.npz").write_bytes(b"fitted for best.pt")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(_config(root, out), log=False)
    config = tmp_path / "c.json"
    config.write_text(json.dumps(_config(root, out).__dict__))
    assert main(["train", "--config", str(config)]) == 2
    assert "give --resume to continue it, --overwrite to replace it" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched
    train(_config(root, out), log=False, overwrite=True)  # asked for: replaced


def test_a_set_smaller_than_one_batch_fails_before_writing(synthetic_set, tmp_path):  # noqa: F811
    root, count = synthetic_set
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=f"fewer than batch_size {count + 1}"):
        train(_config(root, out, batch_size=count + 1), log=False)
    assert not out.exists()


def test_without_validation_best_is_the_last_epoch_and_said(synthetic_set, tmp_path, capsys):  # noqa: F811
    root, _ = synthetic_set
    out = tmp_path / "run"
    train(_config(root, out, val_dir=None), log=True)
    out_text, err = capsys.readouterr()
    assert "no validation set" in err and "best.pt will be the last epoch's model" in err
    assert (out / "best.pt").is_file()
    assert f"the model to use is {out / 'best.pt'}" in err
    # one readable line per epoch (the figures stay in history.json), no JSON on stdout
    assert re.search(r"epoch 1/\d+ \(stage \d\) · .*s$", err, re.MULTILINE)
    assert "{" not in out_text


def test_missing_validation_paths_fail_at_the_start(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "meta.json").write_text("{}")
    config = tmp_path / "c.json"
    config.write_text(
        json.dumps(
            {
                "train_dir": "set",
                "val_dir": "missing_val",
                "aflw_val_dir": "set",
                "human_val_labels": "missing_labels",
            }
        )
    )
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_file(config)
    message = str(info.value)
    assert "'val_dir'" in message and "missing_val does not exist" in message
    assert "'aflw_val_dir'" in message and "is not an AFLW crop folder (no labels.npz)" in message
    assert "'human_val_labels'" in message and "missing_labels does not exist" in message


def test_config_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    (folder / "set").mkdir(parents=True)
    (folder / "set" / "meta.json").write_text("{}")
    config = folder / "c.json"
    absolute = str(tmp_path / "elsewhere")
    config.write_text(json.dumps({"train_dir": "set", "out_dir": absolute}))
    monkeypatch.chdir(tmp_path)  # not the config's folder
    loaded = TrainConfig.from_file(config, {"out_dir": None})
    assert Path(loaded.train_dir) == folder / "set" and loaded.out_dir == absolute
    # a path given on the command line stays relative to the current folder
    assert TrainConfig.from_file(config, {"out_dir": "runs/x"}).out_dir == "runs/x"


def _refiner(source: str) -> Refiner2D:
    """A refiner that moves nothing (one global step of zeros), named ``source``."""
    features = POINT_FEATURES * 68 + 136
    stage = RefineStage(
        np.zeros(features, np.float32), np.zeros((features, 136), np.float32), np.zeros(136), 8
    )
    return Refiner2D(160.0, 256, 8, (stage,), source)


def _report(before: float, after: float, source: str = "first") -> RefinerFitReport:
    figures = {
        "model train": {"nme_io": 4.0},
        "refined train": {"nme_io": 3.0},
        "model val": {"nme_io": before},
        "refined val": {"nme_io": after},
    }
    return RefinerFitReport(_refiner(source), 10, 5, figures)


def test_a_refiner_that_makes_held_out_error_worse_is_not_written(
    tmp_path, capsys, monkeypatch, tiny_weights
):
    from mtface.core.training import refine2d_fit

    weights = tmp_path / "w.pt"
    weights.write_bytes(tiny_weights.read_bytes())
    monkeypatch.setattr(refine2d_fit, "fit_on_label_folder", lambda *a, **k: _report(4.08, 4.26))
    assert fit_refiner_beside(weights, tmp_path, log=True) is None
    err = capsys.readouterr().err
    assert "4.08 -> 4.26 % (worse" in err and "no 2D refiner written" in err
    assert load_model(weights).refiner is None  # the refiner goes into the model (ADR 20)
    args = ["data", "fit-refiner", "--labels", str(tmp_path), "--weights", str(weights)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "4.08 -> 4.26 %" in captured.out and "makes the held-out error worse" in captured.err
    assert load_model(weights).refiner is None
    assert main(args + ["--force"]) == 0 and load_model(weights).refiner.source == "first"
    # the refiner train (or an earlier fit) wrote is not replaced silently
    better = lambda *a, **k: _report(4.2, 4.0, "second")  # noqa: E731
    monkeypatch.setattr(refine2d_fit, "fit_on_label_folder", better)
    assert main(args) == 2 and "give --overwrite" in capsys.readouterr().err
    assert load_model(weights).refiner.source == "first"
    assert main(args + ["--overwrite"]) == 0 and load_model(weights).refiner.source == "second"
    assert fit_refiner_beside(weights, tmp_path, log=False) == weights
