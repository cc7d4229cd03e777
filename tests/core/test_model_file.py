"""One model file (core/model_file.py, ADR 20): the shipped model is one file, a copy of it
predicts the same points, old-format files with the files beside them still load, bad files
give one clear error, and predict's JSON says which model and which parts made each face."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from mtface.core.checkpoint import default_weights_path
from mtface.core.landmarks3d import Landmark3DOffsets, offsets_path
from mtface.core.model_file import (
    FORMAT,
    MODEL_PARTS,
    ModelIdentity,
    applied_parts,
    load_model,
    save_model,
    update_model,
)
from mtface.core.predictor import Predictor, refiner_path
from mtface.core.resources import resource_path
from mtface.core.weights import WeightsError, sha256_of


def _points(weights, convention: str, image) -> np.ndarray:
    return Predictor.from_weights(weights, landmarks=convention).predict(image).faces[0].landmarks


# --- the shipped model ----------------------------------------------------------------------


def test_the_shipped_model_is_one_file_with_every_part():
    assert sorted(p.name for p in resource_path("models").iterdir()) == ["mtface_default.pt"]
    loaded = load_model()
    assert loaded.format == FORMAT and loaded.companions == () and loaded.half
    assert loaded.identity == ModelIdentity(
        "mtface_default", sha256_of(default_weights_path()), MODEL_PARTS
    )
    meta = loaded.meta
    assert meta["trained_on"] and all(":" in entry for entry in meta["trained_on"])
    assert meta["held_out"] and meta["landmarks"].startswith("iBUG-68")
    assert meta["pose_calibration"]["pitch_offset_deg"] == pytest.approx(2.556, abs=1e-3)
    assert loaded.offsets.faces == 17 and len(loaded.refiner.stages) == 4
    assert default_weights_path().stat().st_size < 8e6  # fp16 weights + fp16 refiner


def test_a_copy_of_the_model_file_alone_predicts_exactly_the_same(tmp_path, sample_image):
    copy = tmp_path / "elsewhere" / "my_model.pt"
    copy.parent.mkdir()
    shutil.copy(default_weights_path(), copy)
    for convention in ("3d", "2d"):
        np.testing.assert_array_equal(
            _points(copy, convention, sample_image), _points(None, convention, sample_image)
        )
    shipped = Predictor.from_weights().model_identity
    assert Predictor.from_weights(copy).model_identity == shipped
    assert shipped.to_dict() == {
        "name": "mtface_default",
        "sha256": sha256_of(copy),
        "parts": list(MODEL_PARTS),
    }


def test_applied_parts_follow_the_landmark_definition():
    assert applied_parts(MODEL_PARTS, "3d") == ("cascade", "offsets3d", "pose_calibration")
    assert applied_parts(MODEL_PARTS, "2d") == ("cascade", "refiner2d", "pose_calibration")
    assert applied_parts(("cascade",), "2d") == ("cascade",)
    predictor = Predictor.from_weights(refiner_2d=None)
    assert "refiner2d" not in predictor.model_identity.parts
    assert predictor.applied_parts("2d") == ("cascade", "pose_calibration")


# --- the old format -------------------------------------------------------------------------


@pytest.fixture
def old_format_model(tmp_path, tiny_weights):
    """An ``mtface-cascade/1`` file with the shipped refiner and some offsets beside it."""
    weights = tmp_path / "old" / "best.pt"
    weights.parent.mkdir()
    shutil.copy(tiny_weights, weights)
    load_model().refiner.save(refiner_path(weights))
    Landmark3DOffsets(np.tile([0.0, 0.05, 0.0], (68, 1)), 3, ("a.jpg",)).save(offsets_path(weights))
    return weights


def test_old_format_loads_its_companions_once_and_packs_to_the_same_points(
    old_format_model, tmp_path, sample_image, capsys
):
    loaded = load_model(old_format_model)
    assert loaded.format == "mtface-cascade/1" and len(loaded.companions) == 2
    assert loaded.identity.parts == ("cascade", "refiner2d", "offsets3d")
    assert "old-format model" in capsys.readouterr().err
    load_model(old_format_model)
    assert "old-format" not in capsys.readouterr().err  # said once
    packed = tmp_path / "packed.pt"
    identity = update_model(old_format_model, packed)
    assert identity.parts == loaded.identity.parts and identity.sha256 == sha256_of(packed)
    meta = load_model(packed).meta
    assert meta["packed_from"]["sha256"] == loaded.identity.sha256 and meta["name"] == "best"
    alone = tmp_path / "alone" / "packed.pt"  # without anything beside it
    alone.parent.mkdir()
    shutil.move(packed, alone)
    for convention in ("3d", "2d"):
        np.testing.assert_array_equal(
            _points(alone, convention, sample_image),
            _points(old_format_model, convention, sample_image),
        )


def test_a_changed_companion_changes_the_identity(old_format_model):
    before = load_model(old_format_model).identity
    Landmark3DOffsets(np.zeros((68, 3)), 1).save(offsets_path(old_format_model))
    assert load_model(old_format_model).identity.sha256 != before.sha256


# --- writing and rewriting ------------------------------------------------------------------


def test_save_update_and_drop_parts(tmp_path, tiny_weights, sample_image):
    model = load_model(tiny_weights).cascade
    offsets = Landmark3DOffsets(np.full((68, 3), 0.01), 5)
    path = tmp_path / "m.pt"
    identity = save_model(
        path, model, None, offsets, {"trained_on": ["x: y"], "held_out": {"nme": 1.0}}, half=False
    )
    assert identity.parts == ("cascade", "offsets3d") and identity.name == "m"
    loaded = load_model(path)
    assert loaded.meta["created"].endswith("Z") and loaded.meta["held_out"] == {"nme": 1.0}
    assert not loaded.half and np.array_equal(loaded.offsets.offsets, offsets.offsets)
    for name, tensor in model.state_dict().items():  # fp32 kept bit for bit
        assert torch.equal(tensor, loaded.cascade.state_dict()[name]), name
    refiner = load_model().refiner
    update_model(path, refiner=refiner, drop=("offsets3d",))
    again = load_model(path)
    assert again.identity.parts == ("cascade", "refiner2d") and again.offsets is None
    assert again.refiner.to_arrays().keys() == refiner.to_arrays().keys()
    assert all(
        np.array_equal(a, again.refiner.to_arrays()[k]) for k, a in refiner.to_arrays().items()
    )
    with pytest.raises(ValueError, match="only refiner2d and offsets3d"):
        update_model(path, drop=("cascade",))


# --- bad files ------------------------------------------------------------------------------


def test_bad_model_files_give_one_clear_error(tmp_path):
    data = default_weights_path().read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    text = tmp_path / "text.pt"
    text.write_text("hello")
    for path, message in (
        (tmp_path, "is a folder, expected a model file (.pt)"),
        (tmp_path / "none.pt", "model file not found"),
        (truncated, "corrupt, truncated"),
        (empty, "corrupt, truncated"),
        (text, "corrupt, truncated"),
    ):
        with pytest.raises(WeightsError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_model(path)


def test_a_changed_part_is_caught_by_the_checksum_inside(tmp_path):
    for key, change in (
        ("meta", lambda p: p["meta"].update(name="other")),
        ("offsets3d", lambda p: p["offsets3d"]["offsets"].add_(1e-3)),
        ("refiner2d", lambda p: p["refiner2d"]["bias_0"].add_(1e-3)),
    ):
        changed = torch.load(default_weights_path(), weights_only=True)
        change(changed)
        path = tmp_path / f"{key}.pt"
        torch.save(changed, path)
        with pytest.raises(WeightsError, match="differs from the checksum"):
            load_model(path)


# --- the command line -----------------------------------------------------------------------


def test_cli_model_info_and_pack(old_format_model, tmp_path, capsys):
    from mtface.cli.main import main

    assert main(["model", "info"]) == 0
    out = capsys.readouterr().out
    assert "mtface_default" in out and sha256_of(default_weights_path()) in out
    assert "refiner2d:" in out and "offsets3d:" in out and "pose_calibration: pitch +2.56" in out
    packed = tmp_path / "one.pt"
    assert main(["model", "pack", str(old_format_model), "--out", str(packed), "--name", "x"]) == 0
    assert "parts cascade, refiner2d, offsets3d" in capsys.readouterr().err
    assert main(["model", "info", str(packed), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["identity"]["name"] == "x" and info["format"] == FORMAT
    # no silent overwrite; the shipped file only with --replace-bundled
    assert main(["model", "pack", str(old_format_model), "--out", str(packed)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    before = default_weights_path().read_bytes()
    assert main(["model", "pack", str(packed), "--out", str(default_weights_path())]) == 2
    assert "bundled" in capsys.readouterr().err and default_weights_path().read_bytes() == before


@pytest.mark.parametrize("command", ["predict", "annotate", "evaluate", "benchmark", "export"])
def test_cli_weights_folder_or_missing_is_one_error(tmp_path, capsys, command):
    from mtface.cli.main import main

    extra = {
        "predict": [str(tmp_path), "--out", str(tmp_path / "o")],
        "annotate": [str(tmp_path)],
        "evaluate": ["--pts", str(tmp_path)],
        "benchmark": [],
        "export": ["--onnx", str(tmp_path / "m.onnx")],
    }[command]
    for weights, message in (
        (tmp_path, "is a folder, expected a model file (.pt)"),
        (tmp_path / "no.pt", "model file not found"),
    ):
        assert main([command, *extra, "--weights", str(weights)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("error:") == 1


def test_cli_corrupt_weights_is_one_error_exit_2(tmp_path, capsys):
    from mtface.cli.main import main

    bad = tmp_path / "bad.pt"
    bad.write_bytes(default_weights_path().read_bytes()[:1000])
    image = str(resource_path("samples", "astronaut.jpg"))
    assert main(["predict", image, "--out", str(tmp_path / "o"), "--weights", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "corrupt, truncated" in err and not (tmp_path / "o" / "astronaut.json").exists()


def test_predict_json_records_the_model_and_the_parts_applied(tmp_path):
    from mtface.cli.main import main

    image = str(resource_path("samples", "astronaut.jpg"))
    copy = tmp_path / "mine.pt"
    shutil.copy(default_weights_path(), copy)
    for convention, parts in (
        ("3d", ["cascade", "offsets3d", "pose_calibration"]),
        ("2d", ["cascade", "refiner2d", "pose_calibration"]),
    ):
        out = tmp_path / convention
        args = ["predict", image, "--out", str(out), "--landmarks", convention]
        assert main([*args, "--weights", str(copy)]) == 0
        payload = json.loads((out / "astronaut.json").read_text())
        assert payload["model"]["name"] == "mtface_default"
        assert payload["model"]["sha256"] == sha256_of(copy)
        assert payload["model"]["parts"] == list(MODEL_PARTS)
        assert payload["model"]["file"] == "mine.pt"
        assert payload["faces"][0]["model_parts"] == parts
        assert "'model_parts' lists offsets3d" in payload["conventions"]["landmarks"]
