"""Group editing without Qt: selection rules, the geometry of a move / scale / rotation about
the centroid, and the session's undoable group commands."""

from __future__ import annotations

import numpy as np
import pytest

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.group_edit import (
    REGIONS,
    PointSelection,
    points_in_rect,
    rotated,
    scaled,
    translated,
)
from mtface.core.annotation.session import AnnotationSession


def _session(seed: int = 0, faces: int = 1) -> AnnotationSession:
    rng = np.random.default_rng(seed)
    session = AnnotationSession(bounds=(400, 500))
    session.set_faces(
        [FaceAnnotation.from_points(rng.uniform(50, 350, (68, 2))) for _ in range(faces)]
    )
    return session


def test_regions_are_the_ibug68_index_ranges():
    assert REGIONS["jaw"] == tuple(range(17))
    assert REGIONS["brows"] == tuple(range(17, 27))
    assert REGIONS["nose"] == tuple(range(27, 36))
    assert REGIONS["eyes"] == tuple(range(36, 48))
    assert REGIONS["mouth"] == tuple(range(48, 68))
    assert set(REGIONS["right brow"]) | set(REGIONS["left brow"]) == set(REGIONS["brows"])
    assert set(REGIONS["right eye"]) | set(REGIONS["left eye"]) == set(REGIONS["eyes"])


def test_points_in_rect_takes_exactly_the_points_inside():
    pts = np.array([[0.0, 0.0], [10.0, 10.0], [10.0, 20.0], [20.0, 5.0], [5.0, 5.0]])
    assert points_in_rect(pts, 4, 4, 10, 10) == (1, 4)  # edges count
    assert points_in_rect(pts, 10, 10, 4, 4) == (1, 4)  # corners in any order
    assert points_in_rect(pts, 30, 30, 40, 40) == ()


def test_scale_and_rotation_keep_the_centroid_and_have_the_right_values():
    pts = np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 20.0], [10.0, 20.0]])  # centroid 20, 15
    big = scaled(pts, 2.0)
    assert np.allclose(big.mean(0), (20, 15))
    assert np.allclose(big[0], (0.0, 5.0)) and np.allclose(big[2], (40.0, 25.0))
    turned = rotated(pts, 90.0)  # clockwise on screen: right of the centre goes down
    assert np.allclose(turned.mean(0), (20, 15))
    assert np.allclose(rotated(np.array([[1.0, 0.0], [-1.0, 0.0]]), 90.0), [[0, 1], [0, -1]])
    assert np.allclose(turned[1], (25.0, 25.0))  # (30, 10): offset (10, -5) -> (5, 10)
    assert np.allclose(translated(pts, 1, -10)[0], (11, 0))
    with pytest.raises(ValueError, match="positive"):
        scaled(pts, 0.0)


def test_selection_toggle_regions_cycle_and_step():
    sel = PointSelection()
    assert not sel
    sel.toggle(5)
    sel.toggle(9)
    assert sel.indices == (5, 9) and sel.current == 9
    sel.toggle(5)
    assert sel.indices == (9,)
    assert sel.region("brows", 68) == "brows" and sel.indices == tuple(range(17, 27))
    assert sel.region("brows", 68) == "right brow" and sel.indices == tuple(range(17, 22))
    assert sel.region("brows", 68) == "left brow" and sel.indices == tuple(range(22, 27))
    assert sel.region("brows", 68) == "brows"
    assert sel.region("mouth", 68) == "mouth" and sel.indices == tuple(range(48, 68))
    assert sel.region("mouth", 68) == "mouth"  # no sides: the same again
    sel.set([67], 67)
    assert sel.step(1, 68) == 0 and sel.indices == (0,)  # wraps around
    assert sel.step(-1, 68) == 67
    sel.clear()
    assert sel.step(1, 68) == 0
    sel.clear()
    assert sel.step(-1, 68) == 67
    with pytest.raises(ValueError, match="no points"):
        sel.step(1, 0)


def test_group_move_is_one_undo_step_marks_edited_and_stays_inside():
    session = _session()
    face = session.current()
    start = face.landmarks.copy()
    idx = REGIONS["brows"]
    for k in range(1, 6):  # a held arrow key: five nudges, one step
        session.set_points(idx, start[list(idx)] + [k, 0], "nudge", merge="keys")
    session.end_merge()
    assert np.allclose(face.landmarks[list(idx)], start[list(idx)] + [5, 0])
    assert face.edited[list(idx)].all() and not face.edited[:17].any()
    session.undo()  # the whole burst in one step
    assert np.allclose(face.landmarks, start) and not session.can_undo
    session.redo()
    session.set_points(idx, start[list(idx)] + [1000, -1000], "move", merge="drag")
    assert np.allclose(face.landmarks[list(idx), 0], 499) and np.allclose(
        face.landmarks[list(idx), 1], 0
    )
    session.undo()
    assert np.allclose(face.landmarks[list(idx)], start[list(idx)] + [5, 0])
    session.undo()
    assert np.allclose(face.landmarks, start) and not face.edited.any()
    assert not session.dirty
    session.redo()
    assert np.allclose(face.landmarks[list(idx)], start[list(idx)] + [5, 0])


def test_delete_face_and_undo_put_it_back_in_place():
    session = _session(faces=3)
    faces = list(session.faces)
    session.select(1)
    session.delete_face()
    assert session.faces == [faces[0], faces[2]] and session.selected == 1
    assert session.undo_text == "delete face 2"
    session.undo()
    assert session.faces == faces and session.selected == 1
    session.redo()
    session.select(1)
    session.delete_face()
    session.delete_face(0)
    assert session.faces == [] and session.current() is None
    session.undo()
    session.undo()
    assert session.faces == [faces[0], faces[2]]
