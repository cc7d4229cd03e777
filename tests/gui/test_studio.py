"""End-to-end studio tests: the real window, driven with qtbot and real mouse events."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from mtface.core.formats.annotations import annotation_path, read_annotation
from mtface.core.resources import resource_path
from mtface.core.weights import WeightsError
from tests.gui.conftest import display_available

pytestmark = pytest.mark.gui


@pytest.fixture()
def sample_copy(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(resource_path("samples", "astronaut.jpg"), folder / "a.jpg")
    return folder / "a.jpg"


def _viewport_pos(window, xy):
    view = window.image_view
    scene = view.view.mapViewToScene(QtCore.QPointF(*xy))
    return view.mapFromScene(scene)


def _mouse(
    widget,
    kind,
    pos,
    buttons,
    button=QtCore.Qt.MouseButton.LeftButton,
    modifiers=QtCore.Qt.KeyboardModifier.NoModifier,
):
    event = QtGui.QMouseEvent(
        kind,
        QtCore.QPointF(pos),
        QtCore.QPointF(widget.mapToGlobal(pos)),
        button,
        buttons,
        modifiers,
    )
    QtWidgets.QApplication.sendEvent(widget, event)


def drag(qtbot, window, start_xy, end_xy):
    viewport = window.image_view.viewport()
    left = QtCore.Qt.MouseButton.LeftButton
    p0, p1 = _viewport_pos(window, start_xy), _viewport_pos(window, end_xy)
    _mouse(viewport, QtCore.QEvent.Type.MouseButtonPress, p0, left)
    for t in np.linspace(0, 1, 8):
        p = QtCore.QPoint(
            round(p0.x() + (p1.x() - p0.x()) * t), round(p0.y() + (p1.y() - p0.y()) * t)
        )
        _mouse(viewport, QtCore.QEvent.Type.MouseMove, p, left, QtCore.Qt.MouseButton.NoButton)
        qtbot.wait(5)
    _mouse(viewport, QtCore.QEvent.Type.MouseButtonRelease, p1, QtCore.Qt.MouseButton.NoButton)


def click(window, xy, modifiers=QtCore.Qt.KeyboardModifier.NoModifier):
    viewport = window.image_view.viewport()
    p = _viewport_pos(window, xy)
    left = QtCore.Qt.MouseButton.LeftButton
    _mouse(viewport, QtCore.QEvent.Type.MouseButtonPress, p, left, modifiers=modifiers)
    _mouse(
        viewport,
        QtCore.QEvent.Type.MouseButtonRelease,
        p,
        QtCore.Qt.MouseButton.NoButton,
        modifiers=modifiers,
    )


def test_opens_the_bundled_sample_reconstructed(make_studio):
    window = make_studio()
    assert window.doc.path.name == "astronaut.jpg"
    assert len(window.doc.session.faces) == 1
    assert window.pose_panel.labels["yaw"].text() == "+35.0°"
    assert window.pose_panel.labels["bin"].text() == "(30,60]"
    assert "face(s)" in window.status.currentMessage()
    assert window.image_view.image_item.image.shape == (512, 512, 3)  # row-major


def test_drag_undo_redo_toggle_save_reopen(make_studio, sample_copy, qtbot):
    window = make_studio([sample_copy])
    face = window.doc.session.current()
    start = face.landmarks[30].copy()
    target = start + np.array([12.0, -9.0])
    drag(qtbot, window, start, target)
    assert np.allclose(face.landmarks[30], target, atol=1.5), face.landmarks[30]
    assert face.edited[30] and window.doc.session.dirty
    assert "a.jpg" in window.windowTitle() and window.isWindowModified()
    window.undo_action.trigger()
    assert np.allclose(face.landmarks[30], start) and not face.edited[30]
    window.redo_action.trigger()
    assert np.allclose(face.landmarks[30], target, atol=1.5)
    # Ctrl+click toggles visibility; the V key toggles the selected point back and forth
    was = bool(face.visible[8])
    click(window, face.landmarks[8], QtCore.Qt.KeyboardModifier.ControlModifier)
    assert face.visible[8] == (not was) and window.image_view.selected_point == 8
    qtbot.keyClick(window, QtCore.Qt.Key.Key_V)
    assert face.visible[8] == was
    qtbot.keyClick(window, QtCore.Qt.Key.Key_V)
    # save with the shortcut, then reopen in a new window: the file holds the edits
    qtbot.keyClick(window, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    saved = annotation_path(sample_copy)
    assert saved.exists() and not window.doc.session.dirty
    data = json.loads(saved.read_text())
    shape = next(s for s in data["shapes"] if s["label"] == "31")
    assert np.allclose(shape["points"][0], target, atol=1.5) and shape["flags"]["edited"]
    again = make_studio([sample_copy])
    loaded = again.doc.session.current()
    assert again.doc.loaded_from == saved
    assert np.allclose(loaded.landmarks, face.landmarks, atol=1e-3)
    assert np.array_equal(loaded.visible, face.visible)
    assert np.array_equal(loaded.edited, face.edited)
    # the model's prediction is kept beside the loaded annotation
    assert again.doc.reference_landmarks() is not None


def test_exports_in_every_format(make_studio, sample_copy):
    window = make_studio([sample_copy])
    window.doc.session.move_point(0, (10.0, 10.0))
    for fmt, name in (("coco", "a.coco.json"), ("csv", "a.csv"), ("pts", "a.pts")):
        assert window.export(fmt, target=sample_copy.with_name(name))
        faces = read_annotation(sample_copy.with_name(name), "a.jpg")
        assert np.allclose(faces[0].landmarks[0], (10, 10), atol=1e-3)
    window.save_mesh(sample_copy.with_name("a.ply"))
    assert sample_copy.with_name("a.ply").stat().st_size > 1000


def test_unsaved_edits_are_never_dropped_silently(make_studio, sample_copy, monkeypatch, qtbot):
    shutil.copy(sample_copy, sample_copy.with_name("b.jpg"))
    window = make_studio([sample_copy.parent])
    window.doc.session.move_point(3, (5.0, 5.0))
    answers = [QtWidgets.QMessageBox.StandardButton.Cancel]
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: answers.pop(0))
    window.step(1)  # cancelled: stays on a.jpg with its edit
    assert window.doc.path.name == "a.jpg" and window.doc.session.dirty
    assert window.file_list.item(0).text().startswith("* ")
    answers.append(QtWidgets.QMessageBox.StandardButton.Save)
    window.step(1)  # saved, then moved on
    qtbot.waitUntil(lambda: window.doc.path.name == "b.jpg")
    assert annotation_path(sample_copy).exists()
    assert window.file_list.item(0).text().endswith("✓")


def test_autosave_writes_after_each_edit(make_studio, sample_copy):
    window = make_studio([sample_copy])
    window.autosave_action.trigger()
    window.image_view.selected_point = 5
    window.toggle_selected()
    assert annotation_path(sample_copy).exists() and not window.doc.session.dirty


def test_unreadable_annotation_is_reported_kept_aside_and_the_save_loads(make_studio, sample_copy):
    """Saving beside a malformed file used to write a.1.json, which never loaded again
    (docs/adr/0010-unreadable-annotations.md)."""
    broken = annotation_path(sample_copy)
    broken.write_text("{ this is not json")
    window = make_studio([sample_copy])
    assert (
        any("not readable" in str(d) or "JSON" in str(d) for d in window.dialogs)
        or window.doc.annotation_error
    )
    assert "✓" not in window.file_list.item(0).text()  # no tick for a malformed file
    assert "unreadable" in window.file_list.item(0).text()
    window.doc.session.move_point(1, (1.0, 1.0))
    assert window.save()
    kept = list(sample_copy.parent.glob("a.json.bad-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{ this is not json"
    assert not sample_copy.with_name("a.1.json").exists()
    assert "a.json.bad-" in window.status.currentMessage()
    assert any("moved" in str(d[1]) for d in window.dialogs)
    assert window.file_list.item(0).text().endswith("✓")
    again = make_studio([sample_copy])
    assert again.doc.loaded_from == broken and again.doc.annotation_error is None
    assert np.allclose(again.doc.session.current().landmarks[1], (1.0, 1.0))


def test_bad_image_in_a_folder_is_reported_and_the_studio_goes_on(make_studio, sample_copy, qtbot):
    bad = sample_copy.with_name("0_bad.jpg")
    bad.write_bytes(b"")
    window = make_studio([sample_copy.parent], wait=False)
    qtbot.waitUntil(lambda: any("empty" in str(d[1]) for d in window.dialogs), timeout=5000)
    assert window.doc is None
    window.step(1)
    qtbot.waitUntil(lambda: window.doc is not None and window.doc.prediction is not None)
    assert window.doc.path.name == "a.jpg"


def test_reset_face_and_rerun_stage2(make_studio):
    window = make_studio()
    session = window.doc.session
    session.move_point(10, (1.0, 2.0))
    window.rerun_stage2()
    face = session.current()
    assert np.allclose(face.landmarks[10], (1.0, 2.0))  # the human's point is kept
    assert np.allclose(face.predicted_landmarks[10], (2.0, 3.0))  # the re-run saw it
    window.reset_face()
    assert np.allclose(face.landmarks, face.predicted_landmarks) and not face.edited.any()
    session.undo()
    session.undo()
    assert session.current().edited[10]


def test_undoing_a_stage2_rerun_puts_the_prediction_back(make_studio):
    window = make_studio()
    session = window.doc.session
    face = session.current()
    before, model = face.predicted_landmarks.copy(), face.face
    session.move_point(10, (1.0, 2.0))
    window.rerun_stage2()
    assert face.face is not model
    session.undo()
    assert np.allclose(face.predicted_landmarks, before) and face.face is model
    assert np.allclose(face.landmarks[10], (1.0, 2.0)) and face.edited[10]


def test_without_weights_the_studio_opens_for_annotation(make_studio):
    def broken():
        raise WeightsError("weights file not found: x.pt")

    window = make_studio(predictor=broken, wait=False)
    assert window.worker is None and window.doc is not None
    assert any("not found" in str(d) for d in window.dialogs)


def test_main_starts_and_profiles_startup(qtbot, capsys, monkeypatch, topology):
    from mtface.gui import app as app_module
    from tests.gui.conftest import FakePredictor

    monkeypatch.setattr(app_module, "default_predictor_factory", lambda: FakePredictor(topology))
    paths, _factory, _enable_3d, landmarks = app_module.create_window.__defaults__
    monkeypatch.setattr(
        app_module.create_window,
        "__defaults__",
        (paths, lambda: FakePredictor(topology), False, landmarks),
    )

    def close_when_shown():
        for w in QtWidgets.QApplication.topLevelWidgets():
            if (
                isinstance(w, app_module.MainWindow)
                and w.isVisible()
                and w.doc is not None
                and w.doc.prediction is not None
            ):
                w.close()
                return
        QtCore.QTimer.singleShot(50, close_when_shown)

    QtCore.QTimer.singleShot(50, close_when_shown)
    assert app_module.main(["--profile-startup"]) == 0
    out = capsys.readouterr().out
    # measured from the process's start, imports included (issue 9: it started after them)
    assert "startup: from process start" in out and "imports done after" in out
    start = app_module.process_start_time()
    assert start is not None and start < app_module.IMPORTED_AT


@pytest.mark.vtk
@pytest.mark.skipif(not display_available(), reason="the VTK view needs an X display (Xvfb)")
def test_3d_view_shows_the_mesh_and_screenshot(make_studio, sample_copy, qtbot):
    window = make_studio([sample_copy], enable_3d=True)
    plotter = window.mesh_view.plotter
    assert "face" in plotter.actors and "visible" in plotter.actors and "hidden" in plotter.actors
    image = window.mesh_view.screenshot()
    assert image.std() > 5  # something was drawn
    out = sample_copy.with_name("shot.png")
    window.save_screenshot(out)
    assert out.stat().st_size > 5000


@pytest.fixture()
def real_tiny_predictor(tiny_weights):
    from mtface.core.predictor import Predictor

    return lambda: Predictor.from_weights(tiny_weights)


def test_live_video_runs_pauses_steps_and_snapshots(
    make_studio, real_tiny_predictor, tmp_path, qtbot
):
    from tests.core.test_video import write_video

    video = write_video(tmp_path / "v.avi", frames=60)
    window = make_studio(predictor=real_tiny_predictor)
    live = window.live
    live.snapshot_dir = tmp_path / "snaps"
    assert live.start(str(video))
    qtbot.waitUntil(
        lambda: live.controller is not None and live.controller.stats.frames >= 3, timeout=15000
    )
    assert "fps" in window.status.currentMessage()
    live.toggle_pause()
    qtbot.wait(200)
    frames = live.controller.stats.frames
    qtbot.wait(300)
    assert live.controller.stats.frames <= frames + 1  # paused
    live.step()
    qtbot.waitUntil(lambda: live.controller.stats.frames >= frames + 1, timeout=5000)
    doc = live.snapshot(tmp_path / "snaps" / "s.png")  # the menu asks where (issue 20)
    assert doc is not None and doc.path.exists() and live.controller is None
    assert window.doc is doc and len(doc.session.faces) == 1
    assert window.folder[-1] == doc.path and "astronaut.jpg" in window.file_list.item(0).text()
    doc.session.move_point(0, (5.0, 5.0))
    assert window.save() and (doc.path.with_suffix(".json")).exists()


def test_live_with_a_missing_camera_says_so_and_keeps_running(make_studio, real_tiny_predictor):
    window = make_studio(predictor=real_tiny_predictor)
    assert not window.live.start(63)
    assert any("absent or busy" in str(d) for d in window.dialogs)
    assert window.isVisible() and window.doc is not None


@pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="None is immortal from Python 3.12 on: its reference count never "
    "changes, so this check could not fail there",
)
def test_redraws_do_not_leak_references_to_none(make_studio):
    """PySide6 6.12.0 under Python 3.11 decremented None's refcount on every void call, which
    aborts long sessions (docs/adr/0006-pyside6-pin.md)."""

    window = make_studio()
    session = window.doc.session
    before = sys.getrefcount(None)
    for i in range(200):
        session.move_point(3, (100.0 + i % 7, 100.0))
    after = sys.getrefcount(None)
    assert after - before > -100, after - before
