"""Issue 20 in the core: the review state, each face's provenance and the kept extras in every
annotation format; J's mixed definition, Shift+R to the current definition, an undoable load,
saves that keep every export current, the review queue's unreviewed filter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtface.core.annotation.document import ImageDocument
from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.folder import folder_formats, set_folder_formats
from mtface.core.annotation.record import ReviewState
from mtface.core.annotation.record_edits import adopt_definition, reset_face_to, set_review
from mtface.core.annotation.review import (
    ImageStatus,
    next_unreviewed,
    review_counts,
    review_order,
    scan_annotation,
)
from mtface.core.annotation.session import AnnotationSession
from mtface.core.formats.annotations import (
    FORMATS,
    annotation_path,
    find_annotation,
    read_annotation_record,
    write_annotation,
)
from mtface.core.formats.pts import AnnotationFormatError
from mtface.core.types import Face, FaceBox, Pose


def _face(seed: int = 0, definition: str = "3d") -> FaceAnnotation:
    rng = np.random.default_rng(seed)
    face = FaceAnnotation.from_points(rng.uniform(20, 280, (68, 2)), rng.random(68) > 0.3)
    face.definition = face.predicted_definition = definition
    face.model = {"name": "mtface_default.pt", "sha256": "0123456789abcdef"}
    face.confidence = 0.4321
    return face


def _model_face(points: np.ndarray, convention: str) -> Face:
    lm = np.zeros((68, 3), np.float32)
    lm[:, :2] = points
    return Face(
        FaceBox(0, 0, 10, 10, 1.0),
        np.zeros((468, 3), np.float32),
        lm,
        np.ones(68, bool),
        Pose(0, 0, 0),
        convention=convention,
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_review_state_and_provenance_round_trip_in_every_format(tmp_path, fmt):
    person = _face(1)
    person.drawn_by_person = True
    person.edited[:] = True
    faces = [_face(0), person]
    faces[0].edited[5] = True
    review = ReviewState(True, ("occluded", "unsure"), "left eye hidden, gräser")
    path = annotation_path(tmp_path / "img.jpg", fmt)
    write_annotation(path, fmt, faces, "img.jpg", (300, 300), review)
    record = read_annotation_record(find_annotation(tmp_path / "img.jpg", (fmt,)), "img.jpg")
    assert record.review == review
    assert len(record.faces) == 2
    for back, face in zip(record.faces, faces):
        assert np.allclose(back.landmarks, face.landmarks, atol=2e-3)
        assert np.array_equal(back.visible, face.visible)
        assert np.array_equal(back.edited, face.edited)
        assert back.definition == "3d" and back.model == face.model
        assert back.drawn_by_person == face.drawn_by_person
        assert back.confidence == pytest.approx(0.4321)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_image_without_faces_is_saved_as_reviewed(tmp_path, fmt):
    image = tmp_path / "empty.jpg"
    path = annotation_path(image, fmt)
    write_annotation(path, fmt, [], "empty.jpg", (100, 100), ReviewState(True, ("no face",)))
    record = read_annotation_record(find_annotation(image, (fmt,)), "empty.jpg")
    assert record.faces == [] and record.review == ReviewState(True, ("no face",))
    status = scan_annotation(image) if fmt == "labelme" else None
    if status is not None:
        assert status.reviewed and status.faces == 0 and status.state == "no face"


def test_a_file_without_points_or_review_record_is_still_an_error(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"shapes": []}')
    with pytest.raises(AnnotationFormatError, match="no landmark points"):
        read_annotation_record(path)


def test_pre_annotation_writes_unreviewed_by_default(tmp_path):
    path = write_annotation(tmp_path / "a.json", "labelme", [_face()], "a.jpg", (300, 300))[0]
    data = json.loads(path.read_text())
    assert data["flags"]["reviewed"] is False
    assert read_annotation_record(path).review == ReviewState()


def test_unknown_fields_survive_a_load_and_save(tmp_path):
    image = tmp_path / "a.jpg"
    for fmt in ("labelme", "coco", "csv"):
        write_annotation(annotation_path(image, fmt), fmt, [_face()], "a.jpg", (300, 300))
    lab = annotation_path(image, "labelme")
    data = json.loads(lab.read_text())
    data["flags"]["blurry"] = True
    data["shapes"].append({"label": "ear", "points": [[1, 2], [3, 4]], "shape_type": "rectangle"})
    data["shapes"][3]["flags"]["checked_by"] = "ana"
    data["project"] = {"id": 7}
    lab.write_text(json.dumps(data))
    coco = annotation_path(image, "coco")
    data = json.loads(coco.read_text())
    data["licenses"] = [{"id": 1}]
    data["annotations"][0]["attributes"] = {"glasses": True}
    coco.write_text(json.dumps(data))
    csv_path = annotation_path(image, "csv")
    lines = csv_path.read_text().splitlines()
    csv_path.write_text(
        "\n".join([lines[0] + ",quality"] + [f"{ln},q{k}" for k, ln in enumerate(lines[1:])])
    )
    doc = ImageDocument(image, np.zeros((300, 300, 3), np.uint8))
    doc.load_annotation(lab)
    doc.session.move_point(3, (50.0, 60.0))
    doc.save_all(("labelme",))  # coco and csv are beside it: rewritten too
    data = json.loads(lab.read_text())
    assert data["flags"]["blurry"] is True and data["project"] == {"id": 7}
    assert any(s["shape_type"] == "rectangle" for s in data["shapes"])
    assert data["shapes"][3]["flags"]["checked_by"] == "ana"
    assert data["shapes"][3]["points"] == [[50.0, 60.0]]
    data = json.loads(coco.read_text())
    assert data["licenses"] == [{"id": 1}] and data["annotations"][0]["attributes"]
    assert data["annotations"][0]["keypoints"][9:11] == [50.0, 60.0]
    rows = csv_path.read_text().splitlines()
    assert rows[0].endswith(",quality") and rows[1].endswith(",q0") and ",50.000,60.000," in rows[4]


def test_save_writes_every_chosen_format_and_keeps_exports_current(tmp_path):
    image = tmp_path / "a.jpg"
    assert folder_formats(tmp_path) == ("labelme",)
    assert set_folder_formats(tmp_path, ["csv"]) == ("labelme", "csv")
    assert folder_formats(tmp_path) == ("labelme", "csv")
    doc = ImageDocument(image, np.zeros((300, 300, 3), np.uint8))
    doc.session.set_faces([_face()])
    doc.save("pts")  # an earlier export
    doc.session.move_point(0, (10.0, 11.0))
    written = doc.save_all(folder_formats(tmp_path))
    assert {p.name for p in written} == {"a.json", "a.csv", "a.pts", "a.pts.json"}
    for fmt in ("labelme", "csv", "pts"):
        back = read_annotation_record(find_annotation(image, (fmt,)), "a.jpg").faces[0]
        assert np.allclose(back.landmarks[0], (10.0, 11.0), atol=2e-3)
    assert not doc.session.dirty


def test_pts_set_removes_files_of_faces_no_longer_there(tmp_path):
    target = tmp_path / "a.pts"
    write_annotation(target, "pts", [_face(0), _face(1)], "a.jpg", (300, 300))
    assert (tmp_path / "a_face1.pts").is_file()
    write_annotation(target, "pts", [_face(0)], "a.jpg", (300, 300))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pts", "a.pts.json"]


def test_j_keeps_edited_points_moves_the_others_and_records_mixed():
    session = AnnotationSession()
    face = _face()
    session.set_faces([face])
    session.move_point(40, (100.0, 100.0))
    new_points = face.predicted_landmarks + 5.0
    changes = adopt_definition(session, [(0, _model_face(new_points, "2d"))], "2d")
    assert changes[0].moved == 67 and changes[0].kept == 1 and changes[0].definition == "mixed"
    assert np.allclose(face.landmarks[40], (100, 100))
    assert np.allclose(face.landmarks[0], new_points[0])
    assert face.definition == "mixed" and face.predicted_definition == "2d"
    reset_face_to(session)  # Shift+R: the current (2d) definition, not the old one
    assert np.allclose(face.landmarks, new_points) and face.definition == "2d"
    assert not face.edited.any()
    session.undo()
    session.undo()
    assert face.definition == "3d" and np.allclose(face.landmarks[0], new_points[0] - 5.0)


def test_j_on_an_unedited_face_takes_the_new_definition():
    session = AnnotationSession()
    session.set_faces([_face()])
    pts = session.faces[0].landmarks + 1.0
    assert adopt_definition(session, [(0, _model_face(pts, "2d"))], "2d")[0].definition == "2d"


def test_load_as_edit_is_undoable_and_unsaved(tmp_path):
    image = tmp_path / "a.jpg"
    other = write_annotation(tmp_path / "other.json", "labelme", [_face(5)], "a.jpg", (300, 300))
    doc = ImageDocument(image, np.zeros((300, 300, 3), np.uint8))
    doc.session.set_faces([_face(0)])
    before = doc.session.faces[0].landmarks.copy()
    assert doc.load_annotation_as_edit(other[0])
    assert doc.session.dirty and not np.allclose(doc.session.faces[0].landmarks, before)
    doc.session.undo()
    assert not doc.session.dirty and np.allclose(doc.session.faces[0].landmarks, before)


def test_review_changes_are_undoable_edits():
    session = AnnotationSession()
    set_review(session, session.review.with_flag("occluded", True))
    assert session.dirty and session.review.flags == ("occluded",)
    set_review(session, session.review.with_flag("no face", True))
    assert session.review.flags == ("no face", "occluded")  # known flags in their order
    session.undo()
    session.undo()
    assert session.review == ReviewState() and not session.dirty


def test_unreviewed_filter_next_unreviewed_and_counts():
    statuses = [
        ImageStatus("saved", reviewed=True),
        ImageStatus("saved"),
        ImageStatus(image_error=True),
        ImageStatus("none"),
    ]
    assert review_order(statuses, filter_="unreviewed") == [1, 3]
    assert next_unreviewed(statuses, [0, 1, 2, 3], 1) == 3
    assert next_unreviewed(statuses, [0, 1, 2, 3], 3) == 1
    assert review_counts(statuses) == (1, 3)
    assert statuses[2].state == "unreadable image" and ImageStatus(faces=0).state == "no face"
    assert statuses[2].label("x.jpg") != ImageStatus(faces=0).label("x.jpg")


def test_annotate_records_the_model_and_overwrite_keeps_reviewed_files(tmp_path, topology):
    import shutil

    from mtface.core.commands.annotate import run_annotate
    from mtface.core.model_file import ModelIdentity
    from mtface.core.resources import resource_path
    from tests.gui.conftest import FakePredictor

    for name in ("a.jpg", "b.jpg"):
        shutil.copy(resource_path("samples", "astronaut.jpg"), tmp_path / name)
    predictor = FakePredictor(topology)
    predictor.model_identity = ModelIdentity("mine", "ab" * 32, ("cascade", "offsets3d"))
    assert run_annotate([tmp_path], predictor, "labelme").annotated == 2
    record = read_annotation_record(tmp_path / "a.json", "a.jpg")
    assert record.review == ReviewState()  # pre-annotation: unreviewed
    assert record.faces[0].model["name"] == "mine"
    assert record.faces[0].model["sha256"] == "ab" * 32
    reviewed = ReviewState(True)
    write_annotation(tmp_path / "a.json", "labelme", record.faces, "a.jpg", (512, 512), reviewed)
    summary = run_annotate([tmp_path], predictor, "labelme", overwrite=True)
    assert summary.kept == 1 and summary.annotated == 1  # b replaced, the reviewed a kept
    assert read_annotation_record(tmp_path / "a.json", "a.jpg").review == reviewed
