"""Training from human 68-point annotations: import, fitting the mesh, split, evaluate --pts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mtface.cli.main import main
from mtface.core.data.human_labels import (
    find_annotated_images,
    fit_mesh_to_annotation,
    import_annotations,
    photo_identity,
    pin_to_points,
)
from mtface.core.data.labels import load_labels
from mtface.core.formats.pts import write_pts
from mtface.core.landmarks2d import Landmarks2D
from mtface.core.predictor import Predictor
from mtface.core.resources import resource_path

SHIFT = np.array([3.0, -2.0])


@pytest.fixture(scope="module")
def annotated_folder(tmp_path_factory, sample_image):
    """Three copies of the sample photo (two 'faces' of photo a, one of photo b) with .pts
    annotations: the shipped model's 2d landmarks moved by SHIFT (a person's correction)."""
    folder = tmp_path_factory.mktemp("annotated")
    predictor = Predictor.from_weights(landmarks="2d")
    points = predictor.predict(sample_image).faces[0].landmarks_2d + SHIFT
    for name in ("a_1", "a_2", "b"):
        shutil.copy(resource_path("samples", "astronaut.jpg"), folder / f"{name}.jpg")
        write_pts(folder / f"{name}.pts", points)
    return folder, points


def test_pin_moves_the_control_points_onto_their_targets():
    rng = np.random.default_rng(1)
    current = rng.uniform(0, 100, (68, 2))
    target = current + rng.normal(0, 2, (68, 2))
    vertices = np.column_stack([current, rng.normal(0, 5, 68)])
    moved = pin_to_points(vertices, current, target)
    error = np.linalg.norm(moved[:, :2] - target, axis=1)  # smoothed: near, not exact
    assert error.max() < 0.5 and error.mean() < 0.1
    np.testing.assert_array_equal(moved[:, 2], vertices[:, 2])  # depth kept


def test_fitted_mesh_carries_the_annotation_in_its_2d_landmarks(topology):
    definition = Landmarks2D.load()
    mesh = topology.vertices * 15 + np.array([200.0, 200.0, 0.0])
    target = definition.points(mesh) + np.array([4.0, 1.0])
    target[17:27, 1] -= 3.0  # brows placed higher by the annotator
    fitted = fit_mesh_to_annotation(mesh, definition, target)
    assert np.abs(definition.points(fitted) - target).max() < 0.5


def test_photo_identity_groups_the_faces_of_one_photo(tmp_path):
    root = tmp_path
    assert (
        photo_identity(root / "afw" / "123_1.jpg", root)
        == photo_identity(root / "afw" / "123_2.jpg", root)
        == "afw/123"
    )
    assert photo_identity(root / "helen" / "9_x.jpg", root) == "helen/9_x"


def test_import_with_model_meshes_writes_labels_and_split(tmp_path, annotated_folder):
    folder, points = annotated_folder
    report = import_annotations(
        [folder], tmp_path / "labels", "test photos", mesh_from="model", val_fraction=0.5
    )
    assert (report.faces, report.images, report.skipped) == (3, 3, 0)
    labels = load_labels(tmp_path / "labels")
    assert labels.human_landmarks.shape == (3, 68, 2)
    np.testing.assert_allclose(labels.human_landmarks[0], points, atol=1e-3)
    definition = Landmarks2D.load()
    for vertices in labels.vertices:  # the pin is smoothed: the sample's outer jaw within 1.1 px
        error = np.abs(definition.points(vertices.astype(np.float64)) - points)
        assert error.max() < 1.5 and np.median(error) < 0.1
    assert labels.identity[0] == labels.identity[1] != labels.identity[2]
    train = (tmp_path / "labels" / "train.txt").read_text().split()
    val = (tmp_path / "labels" / "val.txt").read_text().split()
    assert sorted(train + val) == ["a_1.pts", "a_2.pts", "b.pts"]
    assert ("a_1.pts" in train) == ("a_2.pts" in train)  # one photo, one side of the split
    assert labels.manifest["licence"] == "test photos"


def test_import_skips_a_malformed_annotation(tmp_path, annotated_folder, capsys):
    folder = tmp_path / "mixed"
    shutil.copytree(annotated_folder[0], folder)
    (folder / "b.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    report = import_annotations([folder], tmp_path / "labels", "x", mesh_from="model")
    assert report.faces == 2 and report.skipped == 1
    assert "b.pts" in capsys.readouterr().err


def test_find_annotated_images_ignores_images_without_annotation(tmp_path, annotated_folder):
    shutil.copy(resource_path("samples", "astronaut.jpg"), tmp_path / "lonely.jpg")
    found = find_annotated_images([annotated_folder[0], tmp_path])
    assert sorted(i.image.stem for i in found) == ["a_1", "a_2", "b"]


def test_cli_import_annotations(tmp_path, annotated_folder, capsys):
    out = tmp_path / "labels"
    code = main(
        [
            "data",
            "import-annotations",
            "--images",
            str(annotated_folder[0]),
            "--out",
            str(out),
            "--licence",
            "test",
            "--mesh-from",
            "model",
        ]
    )
    assert code == 0 and (out / "manifest.json").exists()
    assert "imported 3 faces" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(
        [
            "data",
            "import-annotations",
            "--images",
            str(empty),
            "--out",
            str(tmp_path / "none"),
            "--licence",
            "x",
            "--mesh-from",
            "model",
        ]
    )
    assert code == 2 and "no annotated images" in capsys.readouterr().err


def test_cli_evaluate_pts_scores_the_subset(tmp_path, annotated_folder, capsys):
    folder, points = annotated_folder
    subset = tmp_path / "val.txt"
    subset.write_text("b.pts\n")
    code = main(
        ["evaluate", "--pts", str(folder), "--subset", str(subset), "--out", str(tmp_path / "eval")]
    )
    out = capsys.readouterr().out
    assert code == 0 and "1 faces (gt crop, 2d landmarks" in out
    nme = float(out.split("inter-ocular NME %: mean")[1].split()[0])
    # the model's own points moved by SHIFT: the error is about that shift
    shift_nme = 100 * np.linalg.norm(SHIFT) / np.linalg.norm(points[36] - points[45])
    assert abs(nme - shift_nme) < 0.3 * shift_nme
    assert (tmp_path / "eval" / "pts_gt_errors.csv").exists()
    assert (tmp_path / "eval" / "pts_gt_ced.png").exists()


def test_cli_evaluate_pts_bad_subset(tmp_path, annotated_folder, capsys):
    subset = tmp_path / "val.txt"
    subset.write_text("")
    code = main(["evaluate", "--pts", str(annotated_folder[0]), "--subset", str(subset)])
    assert code == 2 and "empty" in capsys.readouterr().err


def test_import_with_no_usable_face_writes_nothing(tmp_path, annotated_folder):
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(resource_path("samples", "astronaut.jpg"), folder / "a.jpg")
    (folder / "a.pts").write_text("garbage")
    out = tmp_path / "labels"
    out.mkdir()
    (out / "manifest.json").write_text("{}")  # an earlier import's file stays as it was
    with pytest.raises(ValueError, match="no usable face|none of the 1 annotated images"):
        import_annotations([folder], out, "x", mesh_from="model")
    assert (out / "manifest.json").read_text() == "{}"
