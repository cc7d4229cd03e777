"""Group editing through the real window: rubber band, shift-click, region keys, moving,
nudging, scaling and rotating the selection, next / previous point, deleting a face; every
change one undo step."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtTest

from mtface.core.annotation.group_edit import REGIONS, points_in_rect, rotated, scaled
from tests.gui.test_studio import _mouse, _viewport_pos, click, drag, sample_copy  # noqa: F401

pytestmark = pytest.mark.gui
Key = QtCore.Qt.Key
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier


def band(qtbot, window, corner0, corner1, modifiers=QtCore.Qt.KeyboardModifier.NoModifier):
    """A left drag on the background from corner0 to corner1 (image pixels)."""
    viewport = window.image_view.viewport()
    left = QtCore.Qt.MouseButton.LeftButton
    p0, p1 = _viewport_pos(window, corner0), _viewport_pos(window, corner1)
    _mouse(viewport, QtCore.QEvent.Type.MouseButtonPress, p0, left, modifiers=modifiers)
    for t in np.linspace(0, 1, 6):
        p = QtCore.QPoint(
            round(p0.x() + (p1.x() - p0.x()) * t), round(p0.y() + (p1.y() - p0.y()) * t)
        )
        _mouse(
            viewport,
            QtCore.QEvent.Type.MouseMove,
            p,
            left,
            QtCore.Qt.MouseButton.NoButton,
            modifiers=modifiers,
        )
        qtbot.wait(5)
    _mouse(
        viewport,
        QtCore.QEvent.Type.MouseButtonRelease,
        p1,
        QtCore.Qt.MouseButton.NoButton,
        modifiers=modifiers,
    )


def _selected(window) -> tuple[int, ...]:
    return window.image_view.selection.indices


def test_rubber_band_selects_exactly_the_points_inside_and_shift_adds(make_studio, qtbot):
    window = make_studio()
    face = window.doc.session.current()
    lm = face.landmarks.copy()
    # a band around the mouth, corners well away from every point
    x0, y0 = lm[48:68].min(0) - 4
    x1, y1 = lm[48:68].max(0) + 4
    for corner in ((x0, y0), (x1, y1)):
        assert np.linalg.norm(lm - corner, axis=1).min() > 8
    expected = points_in_rect(lm, x0, y0, x1, y1)
    assert set(REGIONS["mouth"]) <= set(expected)
    band(qtbot, window, (x0, y0), (x1, y1))
    assert _selected(window) == expected
    assert np.allclose(face.landmarks, lm) and not window.doc.session.dirty  # nothing moved
    # shift + band adds the brows' band; shift + click takes one point out and puts it back
    bx0, by0 = lm[17:27].min(0) - 4
    bx1, by1 = lm[17:27].max(0) + 4
    band(qtbot, window, (bx0, by0), (bx1, by1), SHIFT)
    assert set(_selected(window)) == set(expected) | set(points_in_rect(lm, bx0, by0, bx1, by1))
    click(window, lm[50], SHIFT)
    assert 50 not in _selected(window)
    click(window, lm[50], SHIFT)
    assert 50 in _selected(window)
    click(window, lm[8])  # a plain click: that point alone
    assert _selected(window) == (8,) and window.image_view.selected_point == 8
    qtbot.keyClick(window, Key.Key_Escape)
    assert _selected(window) == ()


def test_region_keys_select_the_ibug68_regions(make_studio, qtbot):
    window = make_studio()
    for key, wanted in (
        (Key.Key_1, range(0, 17)),
        (Key.Key_2, range(17, 27)),
        (Key.Key_2, range(17, 22)),  # again: the right brow
        (Key.Key_2, range(22, 27)),  # again: the left brow
        (Key.Key_2, range(17, 27)),
        (Key.Key_3, range(27, 36)),
        (Key.Key_4, range(36, 48)),
        (Key.Key_5, range(48, 68)),
    ):
        qtbot.keyClick(window, key)
        assert _selected(window) == tuple(wanted), key
    qtbot.keyClick(window, Key.Key_A, CTRL)
    assert _selected(window) == tuple(range(68))
    assert not window.image_view.options["stage1"]  # 1 no longer toggles the stage-1 overlay


def test_arrow_nudges_move_the_selection_and_one_undo_restores(make_studio, qtbot):
    window = make_studio()
    session = window.doc.session
    face = session.current()
    start = face.landmarks.copy()
    qtbot.keyClick(window, Key.Key_2)  # the brows
    brows = list(range(17, 27))
    view = window.image_view
    view.setFocus()
    qtbot.keyClick(view, Key.Key_Right)
    assert np.allclose(face.landmarks[brows], start[brows] + [1, 0])
    assert np.allclose(np.delete(face.landmarks, brows, 0), np.delete(start, brows, 0))
    assert face.edited[brows].all() and face.edited.sum() == 10
    qtbot.keyClick(view, Key.Key_Down, SHIFT)
    assert np.allclose(face.landmarks[brows], start[brows] + [1, 10])
    window.undo_action.trigger()
    assert np.allclose(face.landmarks[brows], start[brows] + [1, 0])
    window.undo_action.trigger()
    assert np.allclose(face.landmarks, start) and not face.edited.any()
    # a held key (presses, one release at the end) is one undo step
    for _ in range(5):
        QtTest.QTest.keyPress(view, Key.Key_Up)
    QtTest.QTest.keyRelease(view, Key.Key_Up)
    assert np.allclose(face.landmarks[brows], start[brows] + [0, -5])
    assert window.undo_action.text() == "Undo nudge 10 points"
    window.undo_action.trigger()
    assert np.allclose(face.landmarks, start) and not session.can_undo
    # without a selection an arrow moves nothing and says what to do
    qtbot.keyClick(window, Key.Key_Escape)
    qtbot.keyClick(view, Key.Key_Right)
    assert np.allclose(face.landmarks, start) and "select points" in window.status.currentMessage()


def test_scale_and_rotate_about_the_centroid(make_studio, qtbot):
    window = make_studio()
    face = window.doc.session.current()
    start = face.landmarks.copy()
    qtbot.keyClick(window, Key.Key_5)  # the mouth
    mouth = list(range(48, 68))
    qtbot.keyClick(window, Key.Key_BracketRight)
    grown = scaled(start[mouth], 1.02)
    assert np.allclose(face.landmarks[mouth], grown)
    assert np.allclose(face.landmarks[mouth].mean(0), start[mouth].mean(0))
    spread = np.linalg.norm(start[mouth] - start[mouth].mean(0), axis=1)
    assert np.allclose(
        np.linalg.norm(face.landmarks[mouth] - start[mouth].mean(0), axis=1), spread * 1.02
    )
    qtbot.keyClick(window, Key.Key_BracketLeft)
    assert np.allclose(face.landmarks[mouth], start[mouth], atol=1e-9)
    window.undo_action.trigger()
    window.undo_action.trigger()
    qtbot.keyClick(window, Key.Key_E)
    qtbot.keyClick(window, Key.Key_E)
    turned = rotated(rotated(start[mouth], 1.0), 1.0)
    assert np.allclose(face.landmarks[mouth], turned)
    assert np.allclose(face.landmarks[mouth], rotated(start[mouth], 2.0))
    qtbot.keyClick(window, Key.Key_Q)
    assert np.allclose(face.landmarks[mouth], rotated(start[mouth], 1.0))
    for _ in range(3):
        window.undo_action.trigger()
    assert np.allclose(face.landmarks, start) and not window.doc.session.dirty


def test_dragging_a_selected_point_moves_the_whole_selection(make_studio, qtbot):
    window = make_studio()
    face = window.doc.session.current()
    start = face.landmarks.copy()
    qtbot.keyClick(window, Key.Key_2)
    qtbot.keyClick(window, Key.Key_2)  # the right brow, 17..21
    right = list(range(17, 22))
    drag(qtbot, window, start[19], start[19] + [15.0, -10.0])
    shift = face.landmarks[19] - start[19]
    assert np.allclose(shift, [15, -10], atol=1.5), shift
    assert np.allclose(face.landmarks[right], start[right] + shift)  # rigidly, all five
    assert np.allclose(face.landmarks[22:], start[22:]) and face.edited[right].all()
    assert window.undo_action.text() == "Undo move 5 points"
    window.undo_action.trigger()
    assert np.allclose(face.landmarks, start) and not face.edited.any()
    # dragging a point that is not selected moves it alone and selects it
    drag(qtbot, window, start[30], start[30] + [6.0, 4.0])
    assert _selected(window) == (30,)
    assert np.allclose(face.landmarks[right], start[right])


def test_tab_steps_through_the_points(make_studio, qtbot):
    window = make_studio()
    face = window.doc.session.current()
    click(window, face.landmarks[30])
    view = window.image_view
    view.setFocus()
    qtbot.keyClick(view, Key.Key_Tab)
    assert _selected(window) == (31,) and view.selected_point == 31
    assert "32 (" in window.status.currentMessage()
    qtbot.keyClick(view, Key.Key_Backtab, SHIFT)
    qtbot.keyClick(view, Key.Key_Backtab, SHIFT)
    assert _selected(window) == (29,)
    assert view.hasFocus()  # Tab stayed in the image


def test_delete_face_needs_every_point_and_undo_brings_it_back(make_studio, qtbot):
    window = make_studio()
    session = window.doc.session
    face = session.current()
    qtbot.keyClick(window, Key.Key_2)
    qtbot.keyClick(window, Key.Key_Delete)
    assert session.faces == [face] and "Ctrl+A" in window.status.currentMessage()
    qtbot.keyClick(window, Key.Key_A, CTRL)
    qtbot.keyClick(window, Key.Key_Delete)
    assert session.faces == [] and session.dirty
    assert window.undo_action.text() == "Undo delete face 1"
    window.undo_action.trigger()
    assert session.faces == [face] and not session.dirty
    # the right-click menu deletes it too
    viewport = window.image_view.viewport()
    p = _viewport_pos(window, face.landmarks[8])
    right = QtCore.Qt.MouseButton.RightButton
    _mouse(viewport, QtCore.QEvent.Type.MouseButtonPress, p, right, button=right)
    _mouse(
        viewport, QtCore.QEvent.Type.MouseButtonRelease, p, QtCore.Qt.MouseButton.NoButton, right
    )
    menu = window.editing.menu
    action = next(a for a in menu.actions() if a.text() == "Delete face 1")
    menu.close()
    action.trigger()
    assert session.faces == []
    window.undo_action.trigger()
    assert session.faces == [face]


def test_help_lists_the_group_keys(make_studio):
    window = make_studio()
    dialog = window.show_help()
    table = dialog.findChild(QtCore.QObject, "help_table")
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["2"].startswith("Select the brows")
    assert "Nudge right 1 px" in rows["Right"]
    assert "Backspace" in next(k for k, v in rows.items() if v.startswith("Delete the face"))
    assert rows["S"] == "Stage-1 landmarks"
    dialog.close()


def test_no_two_actions_share_a_key(make_studio):
    """Two actions on one key make Qt fire neither (an "ambiguous shortcut"): every key of
    the window's and the image view's actions is taken once."""
    window = make_studio()
    seen: dict[str, str] = {}
    for action in window.actions() + window.image_view.actions():
        for key in action.shortcuts():
            text = key.toString()
            assert text not in seen, f"{text}: {seen.get(text)!r} and {action.text()!r}"
            seen[text] = action.text()
    assert {"1", "2", "3", "4", "5", "Ctrl+A", "Right", "Shift+Up", "Tab", "Del", "E", "Q"} <= set(
        seen
    )
