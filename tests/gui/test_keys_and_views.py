"""Issue 20's "Keys and views" defects, each through the real window: F1 names the real keys,
R never resets silently, Cancel keeps the list on the open image, live mode keeps the folder's
list and asks where a snapshot goes, paused live says so, no previous mesh or pose under the
"annotation not readable" dialog, and a filter never leaves a non-matching image current."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from mtface.core.formats.annotations import annotation_path
from tests.gui.conftest import sample_folder

pytestmark = pytest.mark.gui


@pytest.fixture()
def folder(tmp_path):
    return sample_folder(tmp_path, b=lambda image: image[:, ::-1])


@pytest.fixture()
def real_tiny_predictor(tiny_weights):
    from mtface.core.predictor import Predictor

    return lambda: Predictor.from_weights(tiny_weights)


def _help_rows(window) -> list[tuple[str, str]]:
    dialog = window.show_help()
    table = dialog.findChild(QtWidgets.QTableWidget, "help_table")
    rows = [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())]
    dialog.close()
    return rows


def test_f1_names_only_real_bindings_and_r_never_resets_silently(make_studio, qtbot):
    window = make_studio(enable_3d=True)
    rows = _help_rows(window)
    text = " ".join(k + " " + t for k, t in rows)
    assert "R fits" not in text and "or R " not in text
    fit = [t for k, t in rows if k == "Ctrl+0"]
    assert fit and "3D" in fit[0]
    assert any("Ctrl+0 fits" in t for _, t in rows)  # the mouse rows use the real binding
    assert [t for k, t in rows if k == "R"] == ["Reset the selected point"]
    face = window.doc.session.faces[0]
    window.doc.session.move_point(3, (40.0, 40.0))
    window.image_view.selected_point = None
    window.editing.clear_selection()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R)
    assert np.allclose(face.landmarks[3], (40.0, 40.0))  # nothing selected: nothing reset
    assert "select a point" in window.status.currentMessage()


def test_cancel_on_unsaved_edits_keeps_the_list_on_the_open_image(
    make_studio, folder, qtbot, monkeypatch
):
    window = make_studio([folder])
    window.doc.session.move_point(3, (40.0, 40.0))
    monkeypatch.setattr(
        QtWidgets.QMessageBox,
        "question",
        lambda *a, **k: QtWidgets.QMessageBox.StandardButton.Cancel,
    )
    files = window.file_list
    rect = files.visualItemRect(files.item(1))
    qtbot.mouseClick(files.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.wait(50)
    assert window.doc.path.name == "a.jpg"
    assert files.currentRow() == 0
    assert [it.text() for it in files.selectedItems()] == [files.item(0).text()]


def test_no_previous_face_pose_or_mesh_under_the_unreadable_annotation_dialog(
    make_studio, folder, qtbot, monkeypatch
):
    annotation_path(folder / "b.jpg").write_text("{broken")
    window = make_studio([folder])
    assert window.pose_panel.labels["yaw"].text() != "-"
    seen = []
    monkeypatch.setattr(
        QtWidgets.QMessageBox,
        "warning",
        lambda *a, **k: (
            seen.append(
                (window.pose_panel.labels["yaw"].text(), len(window.image_view.landmarks.data))
            )
            or QtWidgets.QMessageBox.StandardButton.Ok
        ),
    )
    window.step(1)
    qtbot.waitUntil(lambda: window.doc is not None and window.doc.path.name == "b.jpg")
    assert seen == [("-", 0)]


def test_choosing_a_filter_opens_a_matching_image_and_marks_one_that_left_it(
    make_studio, folder, qtbot
):
    window = make_studio([folder])
    assert window.save()  # a.jpg saved: not in "unsaved" any more
    window.review_bar.set_choice("folder", "unsaved")
    qtbot.waitUntil(lambda: window.doc.path.name == "b.jpg")
    files = window.file_list
    assert [files.index_at(r) for r in range(files.count())] == [1]
    qtbot.waitUntil(lambda: window.doc.prediction is not None)
    assert window.save()  # the open image leaves the filter: listed, but marked as such
    item = files.item(files.row_of(1))
    assert item.font().italic() and "no longer matches 'unsaved'" in item.toolTip()


def test_live_keeps_the_folder_list_says_paused_and_asks_where_snapshots_go(
    make_studio, real_tiny_predictor, folder, tmp_path, qtbot, monkeypatch
):
    from tests.core.test_video import write_video

    video = write_video(tmp_path / "clip.avi", frames=120)
    window = make_studio([folder], predictor=real_tiny_predictor)
    live = window.live
    assert live.start(str(video))
    qtbot.waitUntil(lambda: live.controller.stats.frames >= 3, timeout=15000)
    texts = [window.file_list.item(r).text() for r in range(window.file_list.count())]
    assert texts[0] == "● live: clip.avi" and "a.jpg" in texts[1] and "b.jpg" in texts[2]
    live.toggle_pause()
    assert "paused" in window.status.currentMessage()
    live.step()
    qtbot.wait(400)
    assert "paused" in window.status.currentMessage()
    asked = []

    def save_dialog(parent, title, suggested, *a, **k):
        asked.append(suggested)
        return str(folder / "snap.png"), "PNG (*.png)"

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", save_dialog)
    doc = live.snapshot()
    assert asked and asked[0].startswith(str(folder))  # offered beside the open folder
    assert doc.path == folder / "snap.png" and doc.path.exists()
    assert str(doc.path) in window.status.currentMessage()
    texts = [window.file_list.item(r).text() for r in range(window.file_list.count())]
    assert len(texts) == 3 and "snap.png" in texts[2] and window.doc is doc
