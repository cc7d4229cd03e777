"""Issue 20 in the studio, through the real window: the review state (N, Ctrl+Enter, flags, a
note, "reviewed N of M", an image without faces marked reviewed), one truth per face (J keeps
a person's points and says "mixed", Shift+R to the current definition, Ctrl+L undoable, every
chosen format saved) and the "Keys and views" defects."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from mtface.core.annotation.folder import set_folder_formats
from mtface.core.formats.annotations import annotation_path, read_annotation_record
from mtface.core.types import Prediction, Timings
from tests.gui.conftest import FakePredictor, sample_folder

pytestmark = pytest.mark.gui


class NoFaceOnDarkPhotos(FakePredictor):
    """The fake face, except on dark photos (mean < 60), where it finds none."""

    def predict(self, image, boxes=None):
        if boxes is None and image.mean() < 60:
            self.calls += 1
            return Prediction([], image.shape[:2], Timings(1.0, (2.0,), 0.1, 3.1))
        return super().predict(image, boxes)


@pytest.fixture()
def folder(tmp_path):
    """a.jpg (the sample), b.jpg (flipped), c.jpg (very dark: no face found)."""
    return sample_folder(
        tmp_path,
        b=lambda image: image[:, ::-1],
        c=lambda image: (image * 0.1).astype(np.uint8),
    )


def _studio(make_studio, folder, topology, qtbot):
    window = make_studio([folder], predictor=lambda: NoFaceOnDarkPhotos(topology))
    statuses = window.file_list.statuses
    qtbot.waitUntil(
        lambda: all(s.faces is not None or s.image_error for s in statuses), timeout=10000
    )
    return window


def _rows(window) -> list[str]:
    return [window.file_list.item(r).text() for r in range(window.file_list.count())]


# --- the review state -----------------------------------------------------------------------


def test_review_queue_marks_reviewed_saves_and_jumps_to_the_next_unreviewed(
    make_studio, folder, topology, qtbot
):
    window = _studio(make_studio, folder, topology, qtbot)
    assert window.review_count.text() == "reviewed 0 of 3"
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Return, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.doc.path.name == "b.jpg" and window.doc.prediction is not None)
    data = json.loads(annotation_path(folder / "a.jpg").read_text())
    assert data["flags"]["reviewed"] is True and len(data["shapes"]) == 68
    assert window.review_count.text() == "reviewed 1 of 3 (last: a.jpg, saved)"
    assert window.file_list.statuses[0].state == "reviewed"
    qtbot.keyClick(window, QtCore.Qt.Key.Key_N)  # skips b: the next unreviewed is c
    qtbot.waitUntil(lambda: window.doc.path.name == "c.jpg" and window.doc.prediction is not None)
    assert window.doc.session.faces == []
    window.flag_actions["bad image"].trigger()
    window.set_note("too dark to tell")
    assert window.isWindowModified() and window.file_list.statuses[2].state == "unsaved"
    assert window.mark_reviewed()  # no face: still marked and saved, flagged "no face"
    record = read_annotation_record(annotation_path(folder / "c.jpg"), "c.jpg")
    assert record.faces == [] and record.review.reviewed
    assert record.review.flags == ("no face", "bad image")
    assert record.review.note == "too dark to tell"
    assert window.doc.path.name == "b.jpg"  # the last unreviewed one
    assert window.review_count.text() == "reviewed 2 of 3 (last: c.jpg, saved)"
    window.review_bar.set_choice("folder", "unreviewed")
    assert [window.file_list.index_at(r) for r in range(window.file_list.count())] == [1]


def test_the_list_tells_unreadable_from_no_face_and_explains_the_confidence(
    make_studio, folder, topology, qtbot
):
    (folder / "d.jpg").write_bytes(b"not a jpeg")
    window = _studio(make_studio, folder, topology, qtbot)
    statuses = window.file_list.statuses
    assert statuses[2].state == "no face" and statuses[3].state == "unreadable image"
    rows = _rows(window)
    assert "no face" in rows[2] and "unreadable image" in rows[3]
    icons = [window.file_list.item(r).icon().pixmap(16, 16).toImage() for r in (2, 3)]
    assert icons[0] != icons[1]
    tip = window.file_list.item(0).toolTip()
    assert "confidence" in tip and "Below 0.35" in tip and "low confidence" in tip
    assert "0.5" in window.review_bar.filter_box.toolTip()


def test_reviewed_state_survives_reopening_in_every_chosen_format(
    make_studio, folder, topology, qtbot
):
    set_folder_formats(folder, ["coco", "csv", "pts"])
    window = _studio(make_studio, folder, topology, qtbot)
    window.flag_actions["occluded"].trigger()
    assert window.mark_reviewed()
    for fmt in ("labelme", "coco", "csv", "pts"):
        path = annotation_path(folder / "a.jpg", fmt)
        record = read_annotation_record(
            path.with_name(path.name + ".json") if fmt == "pts" else path, "a.jpg"
        )
        assert record.review.reviewed and record.review.flags == ("occluded",), fmt
        face = record.faces[0]
        assert face.definition == "3d" and not face.drawn_by_person and not face.edited.any()


# --- one truth per face ---------------------------------------------------------------------


def test_j_on_an_edited_face_keeps_the_edit_says_mixed_and_shift_r_resets_to_2d(make_studio, qtbot):
    from mtface.core.predictor import Predictor

    window = make_studio(predictor=lambda: Predictor.from_weights())
    session = window.doc.session
    face = session.faces[0]
    start = face.landmarks.copy()
    window.image_view.landmarks.pointDragged.emit(8, start[8, 0] + 6.0, start[8, 1])
    window.image_view.landmarks.dragFinished.emit(8)
    qtbot.keyClick(window.image_view, QtCore.Qt.Key.Key_J)
    qtbot.waitUntil(lambda: window.doc.prediction.faces[0].convention == "2d", timeout=10000)
    two_d = window.doc.prediction.faces[0].landmarks[:, :2]
    assert face.definition == "mixed" and "mixed" in window.status.currentMessage()
    assert np.allclose(face.landmarks[8], start[8] + (6.0, 0.0), atol=1e-3)
    assert np.allclose(face.landmarks[0], two_d[0], atol=1e-3)  # unedited: moved to 2d
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert np.allclose(face.landmarks, two_d, atol=1e-3) and face.definition == "2d"
    assert "2d" in window.status.currentMessage()


def test_ctrl_l_is_undoable_and_never_dropped_silently(make_studio, folder, qtbot, monkeypatch):
    window = make_studio([folder])
    other = folder / "other.json"
    face = window.doc.session.faces[0]
    shifted = face.landmarks + 7.0
    data = {
        "shapes": [
            {"label": str(i + 1), "points": [[float(x), float(y)]], "shape_type": "point"}
            for i, (x, y) in enumerate(shifted)
        ]
    }
    other.write_text(json.dumps(data))
    window.open_annotation(other)
    assert window.isWindowModified()
    assert np.allclose(window.doc.session.faces[0].landmarks, shifted)
    asked = []
    monkeypatch.setattr(
        QtWidgets.QMessageBox,
        "question",
        lambda *a, **k: asked.append(1) or QtWidgets.QMessageBox.StandardButton.Cancel,
    )
    window.step(1)
    assert asked and window.doc.path.name == "a.jpg"
    window.undo_action.trigger()
    assert not window.isWindowModified()
    assert np.allclose(window.doc.session.faces[0].landmarks, face.landmarks)


def test_a_face_drawn_by_a_person_is_saved_as_theirs(make_studio, folder, qtbot):
    window = make_studio([folder])
    window.start_add_face()
    window.image_view.boxDrawn.emit(100.0, 100.0, 300.0, 300.0)
    assert window.save()
    record = read_annotation_record(annotation_path(folder / "a.jpg"), "a.jpg")
    assert record.faces[1].drawn_by_person and record.faces[1].edited.all()
    assert not record.faces[0].drawn_by_person and not record.faces[0].edited.any()
    data = json.loads(annotation_path(folder / "a.jpg").read_text())
    assert [f["origin"] for f in data["mtface"]["faces"]] == ["model", "person"]
