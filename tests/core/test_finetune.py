"""mtface finetune: bad input before any work, a tiny end-to-end run, overwrite, Ctrl-C + resume.

The runs start from the shipped model (its meshes make the labels) and train 2 to 4 steps on a
handful of copies of the bundled sample photo: no real training.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from mtface.core.commands.finetune import FinetuneOptions, run_finetune, work_folder
from mtface.core.formats.pts import write_pts
from mtface.core.resources import resource_path
from mtface.core.training.finetune_data import (
    FinetuneInputError,
    held_out_fraction,
    scan_inputs,
)
from mtface.core.training.finetune_loop import StepPlan

PHOTOS = 6


@pytest.fixture(scope="module")
def sample_points() -> np.ndarray:
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor

    image = load_image(resource_path("samples", "astronaut.jpg"))
    return Predictor.from_weights(landmarks="2d").predict(image).faces[0].landmarks_2d


@pytest.fixture
def annotated(tmp_path, sample_points):
    """A folder of PHOTOS copies of the sample photo with .pts points shifted down 3 px (a
    convention of their own)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(PHOTOS):
        shutil.copy(resource_path("samples", "astronaut.jpg"), folder / f"face{k}.jpg")
        write_pts(folder / f"face{k}.pts", sample_points + np.array([0.0, 3.0]))
    return folder


def _options(folder, out, **kwargs) -> FinetuneOptions:
    values = {"minutes": 2.0, "max_steps": 2, "threads": 1}
    values.update(kwargs)
    return FinetuneOptions([folder], out, **values)


# --- exceptions: bad input stops the run before any work ----------------------------------


def test_a_folder_without_annotations_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(resource_path("samples", "astronaut.jpg"), empty / "a.jpg")
    assert run_finetune(_options(empty, tmp_path / "m.pt")) == 2
    assert "no annotated photos" in capsys.readouterr().err
    assert not work_folder(tmp_path / "m.pt").exists()


def test_too_few_faces_and_broken_annotations_are_refused(annotated, tmp_path, capsys):
    for k in range(1, PHOTOS):
        (annotated / f"face{k}.pts").unlink()
    assert run_finetune(_options(annotated, tmp_path / "m.pt")) == 2
    assert "too few annotated faces: 1 face(s) on 1 photo(s)" in capsys.readouterr().err
    (annotated / "face1.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    with pytest.raises(FinetuneInputError, match="face1.pts"):
        scan_inputs([annotated])


def test_a_missing_folder_and_a_bad_budget_are_refused(annotated, tmp_path, capsys):
    assert run_finetune(_options(tmp_path / "nowhere", tmp_path / "m.pt")) == 2
    assert "not a folder" in capsys.readouterr().err
    assert run_finetune(_options(annotated, tmp_path / "m.pt", minutes=0)) == 2
    assert "--minutes must be above 0" in capsys.readouterr().err
    assert run_finetune(_options(annotated, tmp_path)) == 2
    assert "is a folder" in capsys.readouterr().err


def test_scan_counts_every_face_of_one_file_per_face_pts(annotated, sample_points):
    (annotated / "face0.pts").rename(annotated / "face0_face0.pts")
    write_pts(annotated / "face0_face1.pts", sample_points * 0.5)
    scan = scan_inputs([annotated])
    assert (scan.faces, scan.photos, scan.images) == (PHOTOS + 1, PHOTOS, PHOTOS)


@pytest.mark.parametrize("fmt", ["labelme", "coco"])
def test_every_face_of_a_two_face_labelme_or_coco_file_is_scanned_and_imported(
    annotated, sample_points, tmp_path, fmt
):
    from mtface.core.annotation.face import FaceAnnotation
    from mtface.core.data.human_labels import import_annotations
    from mtface.core.data.labels import load_labels
    from mtface.core.formats.annotations import annotation_path, write_annotation

    (annotated / "face0.pts").unlink()
    second = sample_points * 0.8 + np.array([10.0, 12.0])
    faces = [FaceAnnotation.from_points(p) for p in (sample_points, second)]
    write_annotation(
        annotation_path(annotated / "face0.jpg", fmt), fmt, faces, "face0.jpg", (512, 512)
    )
    scan = scan_inputs([annotated])
    assert (scan.faces, scan.photos, scan.images) == (PHOTOS + 1, PHOTOS, PHOTOS)

    for k in range(2, PHOTOS):  # the import runs the model per face: keep it small
        (annotated / f"face{k}.jpg").unlink()
        (annotated / f"face{k}.pts").unlink()
    report = import_annotations([annotated], tmp_path / "labels", "test", val_fraction=0.0)
    assert (report.faces, report.images, report.skipped) == (3, 2, 0)
    labels = load_labels(tmp_path / "labels")
    assert sorted(str(p) for p in labels.paths) == ["face0.jpg", "face0.jpg", "face1.jpg"]


def test_held_out_part_is_at_least_one_photo_and_never_all():
    names = tuple(f"photo{k}" for k in range(3))
    fraction = held_out_fraction(names)
    from mtface.core.data.labels import is_validation_identity

    held = [is_validation_identity(n, fraction) for n in names]
    assert 1 <= sum(held) < len(names)
    with pytest.raises(FinetuneInputError, match="every photo"):
        held_out_fraction(("only",))


# --- shapes / numerical values: the plan ---------------------------------------------------


def test_step_plan_shares_time_and_steps_between_the_stages():
    plan = StepPlan(100.0, 5)
    (s1, n1), (s2, n2) = plan.stage_limits(1), plan.stage_limits(2)
    assert s1 + s2 == pytest.approx(100.0) and s1 > s2
    assert n1 + n2 == 5 and n1 >= 1 and n2 >= 1
    assert StepPlan(None, None).stage_limits(1) == (None, None)


# --- smoke: end to end, overwrite, resume -------------------------------------------------


def test_tiny_run_writes_one_model_that_predicts_and_refuses_to_overwrite(
    annotated, tmp_path, capsys
):
    from mtface.core.imageio import load_image
    from mtface.core.model_file import load_model
    from mtface.core.predictor import Predictor

    out = tmp_path / "out" / "mine.pt"
    assert run_finetune(_options(annotated, out)) == 0
    captured = capsys.readouterr()
    assert "held-out inter-ocular NME" in captured.out
    assert f"mtface studio --weights {out}" in captured.out
    assert f"mtface predict IMAGES --out DIR --weights {out} --landmarks 2d" in captured.out
    assert f"mtface evaluate --pts FOLDER --weights {out}" in captured.out
    assert "2D refiner: " in captured.out
    assert out.is_file() and not work_folder(out).exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine.pt"]  # one file
    loaded = load_model(out)
    meta, info = loaded.meta, loaded.meta["finetune"]
    assert meta["landmarks"] == "2d" and "user's points" in meta["landmarks_note"]
    assert any(str(annotated) in entry for entry in meta["trained_on"])
    assert info["faces"] == PHOTOS and info["steps"] == 2
    assert 1 <= info["held_out_faces"] < PHOTOS
    assert meta["held_out"]["faces"] == info["held_out_faces"]
    assert set(info["held_out_nme_io_before"]) == {"2d", "3d"}
    assert np.isfinite(meta["held_out"]["nme_io_percent"])
    assert (loaded.refiner is not None) == info["refiner_2d"].startswith("kept")

    # the file copied alone elsewhere predicts exactly the same points
    image = load_image(annotated / "face0.jpg")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(out, elsewhere / "copy.pt")
    points = [
        Predictor.from_weights(path, landmarks=convention).predict(image).faces[0].landmarks
        for path in (out, elsewhere / "copy.pt")
        for convention in ("2d", "3d")
    ]
    assert np.array_equal(points[0], points[2]) and np.array_equal(points[1], points[3])

    before = out.read_bytes()
    assert run_finetune(_options(annotated, out)) == 2
    assert "exists; give --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_ctrl_c_keeps_the_work_and_the_same_command_resumes(
    annotated, tmp_path, capsys, monkeypatch
):
    import mtface.core.training.finetune_loop as loop

    real_loss = loop.cascade_loss
    calls = {"n": 0}

    def interrupting_loss(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    out = tmp_path / "mine.pt"
    monkeypatch.setattr(loop, "cascade_loss", interrupting_loss)
    assert run_finetune(_options(annotated, out, max_steps=3)) == 130
    assert "run the same command again" in capsys.readouterr().err
    work = work_folder(out)
    state = json.loads((work / "state.json").read_text())
    assert {"imported", "before", "synthesized", "plan"} <= set(state)
    saved = torch.load(work / "train_state.pt", weights_only=True)
    assert saved["progress"]["total_steps"] == 1
    assert not out.exists()

    monkeypatch.setattr(loop, "cascade_loss", real_loss)
    import mtface.core.data.human_labels as human_labels

    def no_second_import(*args, **kwargs):
        raise AssertionError("the import ran again")

    monkeypatch.setattr(human_labels, "import_annotations", no_second_import)
    assert run_finetune(_options(annotated, out, max_steps=3)) == 0
    assert "resuming the run" in capsys.readouterr().err
    from mtface.core.model_file import load_model

    assert load_model(out).meta["finetune"]["steps"] == 3


def test_a_work_folder_of_another_run_needs_restart(annotated, tmp_path, capsys):
    out = tmp_path / "mine.pt"
    work = work_folder(out)
    work.mkdir()
    (work / "state.json").write_text(json.dumps({"job": {"folders": ["elsewhere"]}}))
    assert run_finetune(_options(annotated, out)) == 2
    assert "--restart" in capsys.readouterr().err
    assert (work / "state.json").is_file()
