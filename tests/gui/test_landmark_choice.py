"""The studio's landmark definition: 3d surface points or 2d outline, switched with J."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

pytestmark = pytest.mark.gui


def test_j_switches_to_2d_landmarks_and_predicts_again(make_studio, qtbot):
    from mtface.core.landmarks2d import CONTOUR_POINTS
    from mtface.core.predictor import Predictor

    window = make_studio(predictor=lambda: Predictor.from_weights())
    first = window.doc.prediction.faces[0]
    assert first.convention == "3d" and not window.landmarks_action.isChecked()
    qtbot.keyClick(window.image_view, QtCore.Qt.Key_J)
    qtbot.waitUntil(lambda: window.doc.prediction.faces[0].convention == "2d", timeout=10000)
    second = window.doc.prediction.faces[0]
    assert window.landmarks_action.isChecked()
    assert second.visible[list(CONTOUR_POINTS)].all()
    shown = window.doc.session.faces[0].landmarks
    np.testing.assert_allclose(shown, second.landmarks[:, :2], atol=1e-4)  # no edits: replaced
    assert np.abs(second.landmarks[:17, :2] - first.landmarks[:17, :2]).max() > 0.5


def test_edits_survive_a_switch(make_studio, qtbot):
    from mtface.core.predictor import Predictor

    window = make_studio(predictor=lambda: Predictor.from_weights())
    session = window.doc.session
    before = session.faces[0].landmarks.copy()
    window.image_view.landmarks.pointDragged.emit(30, before[30, 0] + 4.0, before[30, 1])
    window.image_view.landmarks.dragFinished.emit(30)
    edited = session.faces[0].landmarks.copy()
    window.toggle_landmarks()
    qtbot.waitUntil(lambda: window.doc.prediction.faces[0].convention == "2d", timeout=10000)
    # issue 20: the edited point stays, the others take the 2d definition, the face is "mixed"
    np.testing.assert_array_equal(session.faces[0].landmarks[30], edited[30])
    two_d = window.doc.prediction.faces[0].landmarks[:, :2]
    np.testing.assert_allclose(session.faces[0].landmarks[:30], two_d[:30], atol=1e-4)
    assert session.faces[0].definition == "mixed"


def test_studio_opens_with_2d_landmarks(make_studio, qtbot, monkeypatch):
    from mtface.core.predictor import Predictor
    from mtface.gui import app

    created = []
    original = app.create_window

    def spy(*args, **kwargs):
        created.append(kwargs.get("landmarks"))
        return original(
            *args,
            predictor_factory=lambda: Predictor.from_weights(),
            enable_3d=False,
            **{k: v for k, v in kwargs.items() if k not in ("predictor_factory", "enable_3d")},
        )

    monkeypatch.setattr(app, "create_window", spy)
    monkeypatch.setattr(app.QtWidgets.QApplication, "exec", lambda self: 0)
    assert app.main(["--landmarks=2d"]) == 0
    assert created == ["2d"]


def test_a_drag_redraws_only_the_moved_points(make_studio, monkeypatch):
    """Named session events: a drag updates the selected face's points, not every view."""
    window = make_studio()
    view = window.image_view
    calls = {"set_faces": 0, "update_points": 0, "pose": 0}
    for name, owner in (("set_faces", view), ("update_points", view)):
        original = getattr(owner, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    original_pose = window.pose_panel.show_pose
    monkeypatch.setattr(
        window.pose_panel,
        "show_pose",
        lambda *a: calls.__setitem__("pose", calls["pose"] + 1) or original_pose(*a),
    )
    start = window.doc.session.faces[0].landmarks[8].copy()
    for step in range(5):
        view.landmarks.pointDragged.emit(8, start[0] + step, start[1])
    view.landmarks.dragFinished.emit(8)
    assert calls == {"set_faces": 0, "update_points": 5, "pose": 0}
    xs, ys = view.landmarks.getData()
    np.testing.assert_allclose([xs[8], ys[8]], start + [4.0, 0.0])
    window.undo()  # one undo step for the drag; the undo is a 'points' event too
    assert calls["set_faces"] == 0 and calls["update_points"] == 6
    np.testing.assert_allclose(window.doc.session.faces[0].landmarks[8], start)


def test_switch_with_an_unreadable_refiner_says_why_and_stays_3d(
    make_studio, qtbot, tmp_path, tiny_weights
):
    import shutil

    from mtface.core.predictor import Predictor, refiner_path

    weights = tmp_path / "w.pt"
    shutil.copy(tiny_weights, weights)
    refiner_path(weights).write_bytes(b"not a refiner")
    window = make_studio(predictor=lambda: Predictor.from_weights(weights))
    qtbot.keyClick(window.image_view, QtCore.Qt.Key_J)
    assert window.landmarks == "3d" and not window.landmarks_action.isChecked()
    assert window.dialogs and "cannot read the 2D landmark refiner" in window.dialogs[-1][1]
    assert window.doc.prediction.faces[0].convention == "3d"
