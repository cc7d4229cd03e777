"""Nothing is silently lost: output names that cannot collide, stale per-face files removed,
an image's outputs written as a set, annotations bound to their image, and human .pts files
kept unless --overwrite."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from mtface.cli.main import main
from mtface.core.commands.outputs import plan_outputs
from mtface.core.formats.annotations import annotation_path, read_annotation, write_annotation
from mtface.core.formats.atomic import SaveError, atomic_write_set, text_writer
from mtface.core.formats.pts import AnnotationFormatError
from mtface.core.imageio import load_image
from mtface.core.resources import resource_path

SAMPLE = resource_path("samples", "astronaut.jpg")


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory):
    """The sample face twice side by side (BlazeFace finds both)."""
    image = load_image(SAMPLE)
    face = image[30:225, 128:322]
    path = tmp_path_factory.mktemp("two") / "two.jpg"
    Image.fromarray(np.hstack([face, face])).save(path, quality=95)
    return path


def test_plan_outputs_keeps_names_unique(tmp_path):
    for rel in ("a/face.png", "b/face.jpg", "c/face.jpg", "c/face.png", "c/other.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE, tmp_path / rel)
    bases = {j.path.relative_to(tmp_path).as_posix(): j.base for j in plan_outputs([tmp_path])}
    assert bases == {
        "a/face.png": "a/face",
        "b/face.jpg": "b/face",
        "c/face.jpg": "c/face.jpg",
        "c/face.png": "c/face.png",
        "c/other.jpg": "c/other",
    }
    # files given one by one from different folders
    files = [
        tmp_path / "a/face.png",
        tmp_path / "b/face.jpg",
        tmp_path / "c/face.jpg",
        tmp_path / "a/face.png",
    ]
    assert [j.base for j in plan_outputs(files)] == ["face.png", "face.jpg", "face.jpg~1"]


def test_predict_same_stem_in_one_run_writes_both(tmp_path, tiny_weights):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(SAMPLE, tmp_path / "a" / "face.png")
    shutil.copy(SAMPLE, tmp_path / "b" / "face.jpg")
    out = tmp_path / "out"
    assert (
        main(
            [
                "predict",
                str(tmp_path / "a" / "face.png"),
                str(tmp_path / "b" / "face.jpg"),
                "--out",
                str(out),
                "--weights",
                str(tiny_weights),
            ]
        )
        == 0
    )
    images = {json.loads(p.read_text())["image"] for p in out.glob("*.json")}
    assert images == {"face.png", "face.jpg"}
    for payload in (json.loads(p.read_text()) for p in out.glob("*.json")):
        assert all((out / f["mesh"]).exists() for f in payload["faces"])


def test_predict_removes_stale_face_files(tmp_path, tiny_weights, two_faces):
    out = tmp_path / "out"
    args = ["--out", str(out), "--weights", str(tiny_weights)]
    assert main(["predict", str(two_faces), *args]) == 0
    assert (out / "two_face1.pts").exists() and (out / "two_face1.obj").exists()
    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps({"two.jpg": [[10, 10, 150, 150]]}))
    (out / "two_face0_face3.pts").write_text("another image's file")
    assert (
        main(["predict", str(two_faces), *args, "--boxes", str(boxes), "--mesh-format", "ply"]) == 0
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == ["two.json", "two_face0.ply", "two_face0.pts", "two_face0_face3.pts"]


def test_atomic_write_set_is_all_or_nothing(tmp_path):
    (tmp_path / "a.txt").write_text("old a")

    def failing(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(SaveError, match="No space left"):
        atomic_write_set(
            [(tmp_path / "a.txt", text_writer("new a")), (tmp_path / "b.txt", failing)]
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "old a"
    written = atomic_write_set(
        [(tmp_path / "a.txt", text_writer("1")), (tmp_path / "sub" / "b.txt", text_writer("2"))]
    )
    assert [p.read_text() for p in written] == ["1", "2"]


def test_annotate_pts_two_faces_keeps_hand_edited_files(tmp_path, tiny_weights, two_faces):
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(two_faces, folder / "two.jpg")
    args = ["annotate", str(folder), "--format", "pts", "--weights", str(tiny_weights)]
    assert main(args) == 0
    assert sorted(p.name for p in folder.glob("*.pts")) == ["two_face0.pts", "two_face1.pts"]
    original = (folder / "two_face1.pts").read_text()
    (folder / "two_face1.pts").write_text("hand edited")
    assert main(args) == 0  # nothing to do: every image is annotated (kept, exit 0)
    assert (folder / "two_face1.pts").read_text() == "hand edited"
    # not an annotation annotate can read: kept even with --overwrite
    assert main(args + ["--overwrite"]) == 0
    assert (folder / "two_face1.pts").read_text() == "hand edited"
    (folder / "two_face1.pts").write_text(original.replace("version: 1", "version:  1"))
    assert main(args + ["--overwrite"]) == 0
    assert (folder / "two_face1.pts").read_text() == original


def test_annotation_files_of_same_stem_images_do_not_collide(tmp_path, tiny_weights):
    shutil.copy(SAMPLE, tmp_path / "face.jpg")
    Image.open(SAMPLE).save(tmp_path / "face.png")
    assert annotation_path(tmp_path / "face.jpg") == tmp_path / "face.jpg.json"
    assert main(["annotate", str(tmp_path), "--weights", str(tiny_weights)]) == 0
    for name in ("face.jpg", "face.png"):
        data = json.loads((tmp_path / f"{name}.json").read_text())
        assert data["imagePath"] == name
    alone = tmp_path / "solo"
    alone.mkdir()
    shutil.copy(SAMPLE, alone / "x.jpg")
    assert annotation_path(alone / "x.jpg") == alone / "x.json"


def test_labelme_annotation_is_bound_to_its_image(tmp_path):
    from mtface.core.annotation.face import FaceAnnotation

    face = FaceAnnotation.from_points(np.random.default_rng(0).uniform(0, 100, (68, 2)))
    path = write_annotation(tmp_path / "a.json", "labelme", [face], "a.png", (200, 200))[0]
    assert len(read_annotation(path, "a.png")) == 1
    assert len(read_annotation(path)) == 1
    with pytest.raises(AnnotationFormatError, match="belongs to 'a.png', not to 'a.jpg'"):
        read_annotation(path, "a.jpg")


def test_annotation_writers_refuse_nan(tmp_path):
    from mtface.core.annotation.face import FaceAnnotation

    points = np.zeros((68, 2))
    face = FaceAnnotation.from_points(points)
    face.landmarks[3] = np.nan
    for fmt in ("labelme", "coco", "csv", "pts"):
        with pytest.raises(ValueError, match="NaN"):
            write_annotation(tmp_path / f"a.{fmt}", fmt, [face], "a.jpg", (10, 10))
    assert list(tmp_path.iterdir()) == []


def test_predict_never_writes_nan(tmp_path, tiny_weights, monkeypatch, capsys):
    from mtface.core.predictor import Predictor

    real = Predictor.predict

    def nan_predict(self, image, boxes=None, **kwargs):
        prediction = real(self, image, boxes, **kwargs)
        for face in prediction.faces:
            face.landmarks[:] = np.nan
        return prediction

    monkeypatch.setattr(Predictor, "predict", nan_predict)
    out = tmp_path / "out"
    assert main(["predict", str(SAMPLE), "--out", str(out), "--weights", str(tiny_weights)]) == 1
    assert "NaN" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []
