"""The annotation session (undo/redo) and the annotation formats (property round trips)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mtface.core.annotation.session import AnnotationSession, FaceAnnotation
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


def test_listeners_hear_every_change():
    session = AnnotationSession()
    calls = []
    session.listeners.append(lambda: calls.append(1))
    session.set_faces([_face()])
    session.move_point(1, (0.0, 0.0))
    session.undo()
    session.redo()
    assert len(calls) == 4


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


@pytest.mark.parametrize("name,text,message", [
    ("a.json", "{not json", "invalid JSON"),
    ("a.json", "[1, 2]", "neither labelme nor COCO"),
    ("a.json", '{"shapes": [{"label": "x", "points": [[1, 2]]}]}', "malformed point"),
    ("a.json", '{"shapes": [{"label": "2", "points": [[1, 2]]}]}', "lacks points"),
    ("a.csv", "a,b\n1,2\n", "expected the columns"),
    ("a.xyz", "", "unknown annotation format"),
    ("a.mat", "x", "cannot read the .mat file"),  # scipy's MatReadError is no ValueError
])
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
