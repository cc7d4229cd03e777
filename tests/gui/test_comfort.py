"""Display comfort, settings kept across a restart (isolated per test by conftest's
isolated_settings) and the image list following the folder, through the real window."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6 import QtCore

from mtface.gui import settings
from tests.gui.conftest import sample_folder
from tests.gui.test_studio import drag

pytestmark = pytest.mark.gui


@pytest.fixture()
def folder(tmp_path):
    return sample_folder(tmp_path, b=lambda image: image)


def test_settings_are_per_test_and_unreadable_values_fall_back(isolated_settings):
    assert settings.studio_settings().fileName().startswith(str(isolated_settings))
    assert settings.read("display/marker_size", 8) == 8  # nothing from another test
    settings.write("formats", ["labelme"])
    assert settings.read_list("formats", []) == ["labelme"]
    settings.write("display/marker_size", "not a number")
    assert settings.read("display/marker_size", 8) == 8


def test_brightness_and_contrast_change_the_display_only(make_studio, qtbot):
    window = make_studio()
    panel = window.comfort.panel
    original = window.doc.image.copy()
    panel.brightness.setValue(50)  # +64 grey levels
    panel.contrast.setValue(50)  # x2
    black, white = window.image_view.image_item.levels
    assert np.isclose(black, 127.5 - 63.75 - 64.0) and np.isclose(white, 127.5 + 63.75 - 64.0)
    assert np.array_equal(window.doc.image, original)
    assert np.array_equal(window.image_view.image_item.image, original)
    window.step(0)  # kept for the next image shown
    window.image_view.set_image(window.doc.image)
    assert np.allclose(window.image_view.image_item.levels, (black, white))
    panel.reset()
    assert np.allclose(window.image_view.image_item.levels, (0.0, 255.0))


def test_marker_size_and_point_numbers(make_studio, qtbot):
    window = make_studio()
    view = window.image_view
    window.comfort.panel.marker.setValue(14)
    sizes = [s.size() for s in view.landmarks.points()]
    assert min(sizes) == 14.0
    qtbot.keyClick(window, QtCore.Qt.Key.Key_P)
    assert view.numbers.isVisible() and window.comfort.panel.numbers.isChecked()
    face = window.doc.session.current()
    assert np.allclose(view.numbers._points, face.landmarks)  # noqa: SLF001
    view.grab()  # paints the numbers
    start = face.landmarks[30].copy()
    drag(qtbot, window, start, start + [10.0, 5.0])
    assert np.allclose(view.numbers._points[30], face.landmarks[30])  # noqa: SLF001
    qtbot.keyClick(window, QtCore.Qt.Key.Key_P)
    assert not view.numbers.isVisible()


def test_settings_survive_a_window_restart(make_studio, qtbot, folder):
    window = make_studio([folder])
    comfort = window.comfort
    comfort.panel.marker.setValue(12)
    comfort.panel.numbers.setChecked(True)
    comfort.panel.brightness.setValue(40)
    comfort.panel.contrast.setValue(-20)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_F3)  # hide the 3D panel
    assert not comfort.right_panel.isVisible()
    window.autosave_action.trigger()
    window.review_bar.set_choice("confidence", "unsaved")
    window.resize(700, 500)  # inside the offscreen screen (800 x 600)
    levels = window.image_view.image_item.levels
    window.close()

    again = make_studio([folder])
    c = again.comfort
    assert c.panel.marker.value() == 12 and again.image_view.marker_size == 12
    assert c.panel.numbers.isChecked() and again.image_view.numbers.isVisible()
    assert c.panel.brightness.value() == 40 and c.panel.contrast.value() == -20
    assert np.allclose(again.image_view.image_item.levels, levels)
    assert not c.panel_3d_action.isChecked() and not c.right_panel.isVisible()
    assert again.autosave and again.autosave_action.isChecked()
    assert (again.file_list.sort, again.file_list.filter) == ("confidence", "unsaved")
    assert (again.width(), again.height()) == (700, 500)
    qtbot.keyClick(again, QtCore.Qt.Key.Key_F3)
    assert c.right_panel.isVisible()


def test_landmark_definition_used_last_is_the_default(make_studio):
    settings.write("landmarks", "2d")
    assert make_studio().landmarks == "2d"
    settings.write("landmarks", "nonsense")
    assert make_studio().landmarks == "3d"


def test_list_follows_the_folder_and_keeps_the_open_image(make_studio, qtbot, folder):
    window = make_studio([folder])
    doc = window.doc
    assert [p.name for p in window.folder] == ["a.jpg", "b.jpg"] and doc.path.name == "a.jpg"
    face = doc.session.current()
    start = face.landmarks[30].copy()
    drag(qtbot, window, start, start + [8.0, 0.0])
    assert doc.session.dirty
    shutil.copy(folder / "b.jpg", folder / "c.jpg")
    qtbot.waitUntil(lambda: len(window.folder) == 3, timeout=5000)
    assert [p.name for p in window.folder] == ["a.jpg", "b.jpg", "c.jpg"]
    assert window.doc is doc and doc.session.dirty and window.folder[window.index] == doc.path
    assert window.file_list.currentRow() == window.file_list.row_of(window.index)
    assert "1 image(s) added" in window.status.currentMessage()
    (folder / "a.jpg").unlink()  # the open image: kept until the person leaves it
    (folder / "b.jpg").unlink()
    qtbot.waitUntil(lambda: len(window.folder) == 2, timeout=5000)
    assert [p.name for p in window.folder] == ["c.jpg", "a.jpg"]
    assert window.doc is doc and window.folder[window.index] == doc.path and doc.session.dirty
    assert np.allclose(face.landmarks[30], start + [8.0, 0.0], atol=1.5)
