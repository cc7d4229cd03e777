"""The annotation session (undo/redo) and the annotation formats (property round trips)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.session import AnnotationSession
from mtface.core.formats.annotations import (
    FORMATS,
    annotation_path,
    read_annotation,
    to_coco,
    write_annotation,
)
from mtface.core.formats.pts import AnnotationFormatError
from tests.conftest import shared_path


def _face(seed: int = 0) -> FaceAnnotation:
    rng = np.random.default_rng(seed)
    return FaceAnnotation.from_points(rng.uniform(0, 300, (68, 2)), rng.random(68) > 0.3)


def test_edits_undo_redo_and_dirty_flag():
    session = AnnotationSession()
    session.set_faces([_face()])
    face = session.current()
    start = face.landmarks.copy()
    assert not session.dirty
    session.move_point(5, (10.0, 20.0))
    session.move_point(5, (11.0, 21.0))  # a drag: merged into one step
    session.end_merge()
    session.toggle_visibility(7)
    assert session.dirty and face.edited[5] and face.edited[7]
    assert np.allclose(face.landmarks[5], (11, 21))
    session.undo()
    assert face.visible[7] == face.predicted_visible[7] and not face.edited[7]
    session.undo()
    assert np.allclose(face.landmarks[5], start[5]) and not face.edited[5]
    assert not session.dirty and not session.can_undo
    session.redo()
    assert np.allclose(face.landmarks[5], (11, 21))
    session.mark_saved()
    assert not session.dirty
    session.reset_face()
    assert np.allclose(face.landmarks, face.predicted_landmarks) and not face.edited.any()
    session.undo()
    assert np.allclose(face.landmarks[5], (11, 21)) and not session.dirty


def test_reset_point_and_new_edit_clears_redo():
    session = AnnotationSession()
    session.set_faces([_face(), _face(1)])
    session.select(1)
    session.move_point(0, (1.0, 1.0))
    session.reset_point(0)
    assert np.allclose(session.faces[1].landmarks[0], session.faces[1].predicted_landmarks[0])
    session.undo()
    assert session.can_redo
    session.toggle_visibility(3)
    assert not session.can_redo
    with pytest.raises(IndexError):
        session.select(5)


def test_listeners_hear_every_change_with_what_changed():
    from mtface.core.annotation.session import SessionEvent

    session = AnnotationSession()
    events = []
    session.listeners.append(events.append)
    session.set_faces([_face(), _face(1)])
    session.move_point(1, (0.0, 0.0))
    session.move_point(1, (1.0, 0.0))  # the same drag: one undo step, still two events
    session.toggle_visibility(5, face_index=1)
    session.undo()
    session.redo()
    session.reset_face(0)
    session.select(1)
    assert events == [
        SessionEvent("faces"),
        SessionEvent("points", 0, (1,)),
        SessionEvent("points", 0, (1,)),
        SessionEvent("points", 1, (5,)),
        SessionEvent("points", 1, (5,)),
        SessionEvent("points", 1, (5,)),
        SessionEvent("face", 0),
        SessionEvent("selection", 1),
    ]


coords = arrays(np.float64, (68, 2), elements=st.floats(0, 4000, allow_nan=False))
flags = arrays(bool, 68)


@settings(max_examples=40, deadline=None)
@given(coords, flags, flags, st.sampled_from(FORMATS))
def test_format_round_trips(tmp_path_factory, points, visible, edited, fmt):
    face = FaceAnnotation.from_points(points, visible)
    face.edited[:] = edited
    folder = tmp_path_factory.mktemp("ann")
    path = annotation_path(folder / "img.jpg", fmt)
    written = write_annotation(path, fmt, [face], "img.jpg", (480, 640))
    back = read_annotation(written[0], "img.jpg")[0]
    assert np.allclose(back.landmarks, points, atol=2e-3)
    if fmt != "pts":  # .pts has no visibility or edit flags
        assert np.array_equal(back.visible, visible)
        assert np.array_equal(back.edited, edited)


def test_coco_keeps_occluded_apart_from_visible():
    face = _face()
    payload = to_coco([face], "a.jpg", (100, 100))
    v = payload["annotations"][0]["keypoints"][2::3]
    assert set(v) <= {1, 2}
    assert [x == 2 for x in v] == face.visible.tolist()
    assert len(payload["categories"][0]["skeleton"]) > 60


def test_several_faces_round_trip_through_labelme(tmp_path):
    faces = [_face(0), _face(1)]
    path = write_annotation(tmp_path / "a.json", "labelme", faces, "a.jpg", (300, 300))[0]
    back = read_annotation(path)
    assert len(back) == 2 and np.allclose(back[1].landmarks, faces[1].landmarks)
    data = json.loads(path.read_text())
    assert data["shapes"][0]["shape_type"] == "point" and data["imagePath"] == "a.jpg"


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("a.json", "{not json", "invalid JSON"),
        ("a.json", "[1, 2]", "neither labelme nor COCO"),
        ("a.json", '{"shapes": [{"label": "x", "points": [[1, 2]]}]}', "malformed point"),
        ("a.json", '{"shapes": [{"label": "2", "points": [[1, 2]]}]}', "lacks points"),
        ("a.csv", "a,b\n1,2\n", "expected the columns"),
        ("a.xyz", "", "unknown annotation format"),
        ("a.mat", "x", "cannot read the .mat file"),  # scipy's MatReadError is no ValueError
    ],
)
def test_malformed_annotation_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(AnnotationFormatError, match=message):
        read_annotation(path)


@pytest.mark.shared
def test_reads_aflw2000_and_300wlp_mat_files():
    mats = sorted(shared_path("aflw2000_3d_subset", "images").glob("*.mat"))
    face = read_annotation(mats[0])[0]
    assert face.landmarks.shape == (68, 2) and face.pose is not None
    lp = read_annotation(shared_path("w300lp_sample", "IBUG_image_008_1_0.mat"))[0]
    assert lp.landmarks.shape == (68, 2)


# --- issue 9: clean state, drags below the save point, clamping, malformed files, confidence ---


def test_undo_below_the_save_point_then_a_new_edit_is_dirty():
    session = AnnotationSession()
    session.set_faces([_face()])
    session.move_point(1, (10.0, 10.0), merge=False)
    session.mark_saved()
    session.undo()
    assert session.dirty  # below the save point
    session.move_point(2, (20.0, 20.0), merge=False)  # a different edit: the redo branch goes
    assert session.dirty and not session.can_redo
    session.undo()  # back to the state below the save point: still not the saved one
    assert session.dirty


def test_one_drag_is_one_undo_step_also_below_the_save_point():
    session = AnnotationSession()
    session.set_faces([_face()])
    face = session.current()
    session.move_point(1, (10.0, 10.0), merge=False)
    session.mark_saved()
    session.undo()
    before = face.landmarks[4].copy()
    for x in range(5):  # one drag of point 4
        session.move_point(4, (30.0 + x, 40.0))
    session.end_merge()
    session.undo()
    assert np.allclose(face.landmarks[4], before) and not session.can_undo


def test_moves_after_a_save_start_a_new_step():
    session = AnnotationSession()
    session.set_faces([_face()])
    face = session.current()
    session.move_point(4, (30.0, 40.0))
    session.mark_saved()
    session.move_point(4, (31.0, 40.0))  # same key, but the state before it was saved
    session.undo()
    assert np.allclose(face.landmarks[4], (30, 40)) and not session.dirty


def test_discard_reverts_to_the_loaded_state():
    session = AnnotationSession()
    session.set_faces([_face()])
    face = session.current()
    start = face.landmarks.copy()
    session.move_point(4, (30.0, 40.0))
    session.toggle_visibility(3)
    session.mark_discarded()
    assert not session.dirty and np.allclose(face.landmarks, start) and not face.edited.any()


def test_points_are_clamped_to_the_image_when_moved_and_saved(tmp_path):
    from mtface.core.annotation.document import ImageDocument

    image = np.zeros((100, 200, 3), np.uint8)
    doc = ImageDocument(tmp_path / "x.png", image)
    face = _face()
    face.landmarks[0] = (-30.0, 500.0)  # e.g. a predicted jaw point outside the frame
    doc.session.set_faces([face])
    doc.session.move_point(1, (250.0, -4.0))
    assert np.allclose(face.landmarks[1], (199.0, 0.0))
    doc.save()
    saved = read_annotation(annotation_path(doc.path), "x.png")[0].landmarks
    assert saved[:, 0].min() >= 0 and saved[:, 0].max() <= 199
    assert saved[:, 1].min() >= 0 and saved[:, 1].max() <= 99


def test_saving_beside_a_malformed_file_moves_it_aside(tmp_path):
    from mtface.core.annotation.document import ImageDocument

    image_path = tmp_path / "a.png"
    import cv2

    cv2.imwrite(str(image_path), np.full((64, 64, 3), 128, np.uint8))
    broken = annotation_path(image_path)
    broken.write_text("{ not json")
    doc = ImageDocument.open(image_path)
    assert doc.annotation_error and not doc.has_saved_annotation
    doc.session.set_faces([FaceAnnotation.from_points(np.full((68, 2), 10.0))])
    doc.session.move_point(0, (5.0, 5.0))
    assert doc.save() == [broken]
    assert doc.set_aside is not None and doc.set_aside.read_text() == "{ not json"
    assert doc.set_aside.name.startswith("a.json.bad-")
    assert not list(tmp_path.glob("a.1.json"))
    again = ImageDocument.open(image_path)  # the saved work is what opens next time
    assert again.annotation_error is None and again.loaded_from == broken
    assert np.allclose(again.session.current().landmarks[0], (5, 5))
    assert again.has_saved_annotation


def test_confidence_is_saved_and_read_back(tmp_path):
    for fmt in ("labelme", "coco"):
        face = _face()
        face.confidence = 0.4321
        path = tmp_path / ("x" + {"labelme": ".json", "coco": ".coco.json"}[fmt])
        write_annotation(path, fmt, [face, _face(2)], "x.png", (300, 300))
        back = read_annotation(path, "x.png")
        assert back[0].confidence == pytest.approx(0.4321) and back[1].confidence is None


def test_add_face_is_undoable():
    session = AnnotationSession()
    session.set_faces([_face()])
    session.add_face(_face(3))
    assert len(session.faces) == 2 and session.selected == 1 and session.dirty
    session.undo()
    assert len(session.faces) == 1 and session.selected == 0 and not session.dirty
