"""Selecting and editing several landmarks at once in the studio (issue 20): the rubber band,
shift-click, region keys, moving / nudging / scaling / rotating the selection, next and
previous point, deleting a face. The selection and the geometry are core's
(core/annotation/group_edit.py); every change is one undoable session command. Keys and
gestures: docs/annotator_keys.md.

A held key (an arrow, [ ] Q E) repeats; all its repeats are one undo step, closed when the key
is let go (a key release that is not an auto-repeat).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.group_edit import points_in_rect, rotated, scaled, translated
from mtface.core.topology import ibug68_name

if TYPE_CHECKING:
    from mtface.gui.main_window import MainWindow

NUDGE_PX = (1.0, 10.0)  # an arrow key, Shift + arrow
SCALE_STEP = 1.02  # ] grows the selection by 2 % about its centroid, [ shrinks it as much
ROTATE_STEP_DEG = 1.0  # E turns it 1 degree clockwise about its centroid, Q counter-clockwise
#: (key, region of core.annotation.group_edit.REGION_CYCLES)
REGION_KEYS = (("1", "jaw"), ("2", "brows"), ("3", "nose"), ("4", "eyes"), ("5", "mouth"))
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
CONTROL = QtCore.Qt.KeyboardModifier.ControlModifier


def point_label(index: int) -> str:
    return f"{index + 1} ({ibug68_name(index)})" if index < 68 else str(index + 1)


class GroupEditor(QtCore.QObject):
    """Wires the 2D view's gestures and the editing keys of ``window`` to its session."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.view = window.image_view
        self.selection = self.view.selection
        self._drag: tuple[tuple[int, ...], np.ndarray, np.ndarray] | None = None
        self._burst = False  # a key edit merges until its key is let go
        lm = self.view.landmarks
        lm.dragStarted.connect(self._on_drag_start)
        lm.pointDragged.connect(self._on_drag)
        lm.dragFinished.connect(self._on_drag_end)
        lm.pointClicked.connect(self._on_point_clicked)
        lm.pointMenu.connect(self._on_point_menu)
        self.view.view.bandDrawn.connect(self._on_band)
        window.installEventFilter(self)  # key releases the focused child did not take
        self.view.installEventFilter(self)

    # --- the actions ------------------------------------------------------------------------

    def build_menu(self, edit: QtWidgets.QMenu) -> None:
        """Selection and group-edit entries of the Edit menu. Arrows and Tab act only while the
        image has the keyboard focus (elsewhere they move through the image list)."""
        w = self.window
        select = edit.addMenu("Select")
        for key, region in REGION_KEYS:
            w.add_action(
                select,
                f"Select the {region} (again: one side)"
                if region in ("brows", "eyes")
                else f"Select the {region}",
                lambda checked=False, r=region: self.select_region(r),
                key,
            )
        w.add_action(select, "Select all points of the face", self.select_all, "Ctrl+A")
        self._view_action(select, "Next point", lambda: self.step_point(1), "Tab")
        self._view_action(select, "Previous point", lambda: self.step_point(-1), "Shift+Tab")
        move = edit.addMenu("Move the selection")
        for name, dx, dy in (("left", -1, 0), ("right", 1, 0), ("up", 0, -1), ("down", 0, 1)):
            arrow = name.capitalize()
            self._view_action(
                move, f"Nudge {name} 1 px", lambda _c=False, a=dx, b=dy: self.nudge(a, b), arrow
            )
            self._view_action(
                move,
                f"Nudge {name} 10 px",
                lambda _c=False, a=dx, b=dy: self.nudge(10 * a, 10 * b),
                f"Shift+{arrow}",
            )
        w.add_action(move, "Grow 2 % about the centroid", lambda: self.scale(SCALE_STEP), "]")
        w.add_action(move, "Shrink 2 % about the centroid", lambda: self.scale(1 / SCALE_STEP), "[")
        w.add_action(move, "Rotate 1° clockwise", lambda: self.rotate(ROTATE_STEP_DEG), "E")
        w.add_action(
            move, "Rotate 1° counter-clockwise", lambda: self.rotate(-ROTATE_STEP_DEG), "Q"
        )
        delete = w.add_action(
            edit, "Delete the face (all its points selected)", self.delete_selected_face
        )
        delete.setShortcuts(
            [QtGui.QKeySequence(QtCore.Qt.Key.Key_Delete), QtGui.QKeySequence("Backspace")]
        )

    def _view_action(
        self, menu: QtWidgets.QMenu, text: str, slot: Callable[[], None], shortcut: str
    ) -> QtGui.QAction:
        """An action whose key works while the image view (or a child) has the focus."""
        action = QtGui.QAction(text, self.view)
        action.setShortcut(QtGui.QKeySequence(shortcut))
        action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.view.addAction(action)
        return action

    # --- state ------------------------------------------------------------------------------

    def _face(self) -> FaceAnnotation | None:
        doc = self.window.doc
        return doc.session.current() if doc is not None else None

    def _say(self, text: str, ms: int = 5000) -> None:
        self.window.status.showMessage(text, ms)

    def _autosave(self) -> None:
        self.window._maybe_autosave()  # noqa: SLF001 - the window's own autosave rule

    def redraw(self) -> None:
        """The selected face's points again (the selection changed, nothing else)."""
        face = self._face()
        if face is not None:
            self.view.update_points(face, ())

    def clear_selection(self) -> bool:
        """Esc: drop the selection; True when there was one."""
        if not self.selection:
            return False
        self.selection.clear()
        self.redraw()
        return True

    # --- selecting --------------------------------------------------------------------------

    def select_region(self, region: str) -> None:
        face = self._face()
        if face is None:
            return
        chosen = self.selection.region(region, len(face.landmarks))
        again = " (press again for one side)" if region in ("brows", "eyes") else ""
        self._say(f"{chosen}: {len(self.selection.indices)} points selected{again}")
        self.redraw()

    def select_all(self) -> None:
        face = self._face()
        if face is None:
            return
        self.selection.set(range(len(face.landmarks)))
        self._say(f"all {len(face.landmarks)} points selected (Delete deletes the face)")
        self.redraw()

    def step_point(self, delta: int) -> None:
        face = self._face()
        if face is None or len(face.landmarks) == 0:
            return
        index = self.selection.step(delta, len(face.landmarks))
        self._say(f"point {point_label(index)}")
        self.redraw()

    def _on_band(
        self, x0: float, y0: float, x1: float, y1: float, modifiers: QtCore.Qt.KeyboardModifier
    ) -> None:
        face = self._face()
        if face is None:
            return
        inside = points_in_rect(face.landmarks, x0, y0, x1, y1)
        if modifiers & SHIFT:
            self.selection.add(inside)
        else:
            self.selection.set(inside)
        self._say(f"{len(self.selection.indices)} points selected")
        self.redraw()

    def _on_point_clicked(self, index: int, modifiers: QtCore.Qt.KeyboardModifier) -> None:
        doc = self.window.doc
        if doc is None or doc.session.current() is None:
            return
        if modifiers & CONTROL:
            self.selection.set([index], index)
            doc.session.toggle_visibility(index)
            self._autosave()
            return
        if modifiers & SHIFT:
            self.selection.toggle(index)
        else:
            self.selection.set([index], index)
        self._say(f"point {point_label(index)} · {len(self.selection.indices)} selected")
        self.redraw()

    # --- moving by mouse --------------------------------------------------------------------

    def _on_drag_start(self, index: int, x: float, y: float) -> None:
        face = self._face()
        if face is None:
            return
        if index in self.selection and len(self.selection.indices) > 1:
            idx = self.selection.indices
            self._drag = (idx, face.landmarks[list(idx)].copy(), np.array([x, y]))
        else:
            self._drag = None
            self.selection.set([index], index)

    def _on_drag(self, index: int, x: float, y: float) -> None:
        doc = self.window.doc
        if doc is None or doc.session.current() is None:
            return
        if self._drag is None:
            doc.session.move_point(index, (x, y))
            return
        idx, start, anchor = self._drag
        shift = np.array([x, y]) - anchor
        doc.session.set_points(idx, start + shift, f"move {len(idx)} points", merge="drag")

    def _on_drag_end(self, _index: int) -> None:
        self._drag = None
        if self.window.doc is not None:
            self.window.doc.session.end_merge()
            self._autosave()

    # --- moving by keys ---------------------------------------------------------------------

    def _edit_selection(self, how: str, transform: Callable[[np.ndarray], np.ndarray]) -> None:
        doc = self.window.doc
        face = self._face()
        if doc is None or face is None:
            return
        idx = tuple(i for i in self.selection.indices if i < len(face.landmarks))
        if not idx:
            self._say("select points first: click, drag a band, 1-5 or Ctrl+A")
            return
        new = transform(face.landmarks[list(idx)])
        doc.session.set_points(idx, new, f"{how} {len(idx)} points", merge=how)
        self._burst = True

    def nudge(self, dx: float, dy: float) -> None:
        self._edit_selection("nudge", lambda p: translated(p, dx, dy))

    def scale(self, factor: float) -> None:
        self._edit_selection("scale", lambda p: scaled(p, factor))

    def rotate(self, degrees: float) -> None:
        self._edit_selection("rotate", lambda p: rotated(p, degrees))

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if (
            self._burst
            and event.type() == QtCore.QEvent.Type.KeyRelease
            and not event.isAutoRepeat()  # type: ignore[attr-defined]
        ):
            self.end_burst()
        return False

    def end_burst(self) -> None:
        """A held key was let go: its edits are one undo step; autosave then."""
        self._burst = False
        if self.window.doc is not None:
            self.window.doc.session.end_merge()
            self._autosave()

    # --- deleting a face --------------------------------------------------------------------

    def delete_selected_face(self) -> None:
        """Delete / Backspace: only with every point of the face selected (Ctrl+A), so a
        stray key never removes a face."""
        face = self._face()
        if face is None:
            return
        if len(self.selection.indices) != len(face.landmarks):
            self._say(
                "to delete the face, select all its points (Ctrl+A) and press Delete, or "
                "right-click one of its points",
                8000,
            )
            return
        self.delete_face()

    def delete_face(self) -> None:
        doc = self.window.doc
        if doc is None or doc.session.current() is None:
            return
        number = doc.session.selected + 1
        self.selection.clear()
        doc.session.delete_face()
        self._say(f"face {number} deleted (Ctrl+Z brings it back)", 8000)
        self._autosave()

    def _on_point_menu(self, index: int, screen_pos: QtCore.QPoint) -> None:
        doc = self.window.doc
        if doc is None or doc.session.current() is None:
            return
        menu = QtWidgets.QMenu(self.window)
        menu.setObjectName("point_menu")
        number = doc.session.selected + 1
        menu.addAction(f"Delete face {number}", self.delete_face)
        menu.addAction("Select all points of the face", self.select_all)
        menu.addAction(f"Reset point {point_label(index)}", lambda: doc.session.reset_point(index))
        menu.popup(screen_pos)
        self.menu = menu  # for tests
