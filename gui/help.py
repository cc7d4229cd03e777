"""What the colours mean (a legend under the pose panel) and a help dialog that lists every
shortcut of the window's menus (read from the actions themselves, so it never goes stale) and
the mouse gestures."""

from __future__ import annotations

import re

from PySide6 import QtCore, QtGui, QtWidgets

from mtface.gui.image_view import INVISIBLE, VISIBLE

MOUSE = (
    ("Drag a landmark", "move it (one undo step per drag; it stays inside the image)"),
    ("Drag a selected landmark", "move the whole selection (one undo step)"),
    ("Click a landmark", "select it alone (V, R and Tab act on it)"),
    ("Shift + click a landmark", "add it to the selection, or take it out"),
    ("Drag the background", "select the points inside the band (Shift + drag: add them)"),
    ("Ctrl + click a landmark", "toggle its visibility (blue ↔ red)"),
    ("Right-click a landmark", "menu: delete the face, select all, reset the point"),
    ("Click another face's points", "select that face"),
    ("Hover a landmark", "its number and iBUG-68 name"),
    ("Wheel / right-drag", "zoom the image"),
    ("Ctrl + drag or middle drag", "pan the image ({Fit image} fits it again)"),
    ("{Add a missed face (draw its box)}, then drag a box", "add a face the detector missed"),
    ("3D view: left drag", "turn the mesh (Shift + left or middle drag pans)"),
    ("3D view: wheel / right drag", "zoom the mesh (double click or {Reset 3D view} fits it)"),
)
#: ``{action text}`` in MOUSE stands for that action's real shortcut (mouse_rows); a row whose
#: action the window lacks (no 3D view, no model) is left out, so F1 never names a wrong key.
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def mouse_rows(window: QtWidgets.QWidget) -> list[tuple[str, str]]:
    """MOUSE with each ``{action text}`` replaced by the action's shortcut in ``window``."""
    keys = {}
    for action in window.actions():
        shortcut = action.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText)
        if shortcut:
            keys[action.text().replace("&", "").rstrip("…")] = shortcut
    rows = []
    for gesture, text in MOUSE:
        names = _PLACEHOLDER.findall(gesture + text)
        if all(n in keys for n in names):
            fill = lambda t: _PLACEHOLDER.sub(lambda m: keys[m.group(1)], t)  # noqa: E731
            rows.append((fill(gesture), fill(text)))
    return rows


def _dot(colour: tuple[int, int, int]) -> QtWidgets.QLabel:
    pixmap = QtGui.QPixmap(12, 12)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setBrush(QtGui.QColor(*colour))
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.drawEllipse(1, 1, 10, 10)
    painter.end()
    label = QtWidgets.QLabel()
    label.setPixmap(pixmap)
    return label


class Legend(QtWidgets.QGroupBox):
    """Blue: visible landmark; red: self-occluded; white ring: edited by a person."""

    ENTRIES = ((VISIBLE, "visible"), (INVISIBLE, "self-occluded (hidden by the face)"))

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Landmarks", parent)
        layout = QtWidgets.QGridLayout(self)
        self.texts: list[str] = []
        for row, (colour, text) in enumerate(self.ENTRIES):
            layout.addWidget(_dot(colour), row, 0)
            layout.addWidget(QtWidgets.QLabel(text), row, 1)
            self.texts.append(text)
        ring = QtWidgets.QLabel(
            "white ring: corrected by you · green rings: the model beside a loaded file · F1: help"
        )
        ring.setWordWrap(True)
        layout.addWidget(ring, len(self.ENTRIES), 0, 1, 2)
        self.texts.append(ring.text())
        layout.setColumnStretch(1, 1)


def shortcut_rows(window: QtWidgets.QWidget) -> list[tuple[str, str]]:
    """(shortcut, action text) of every action of ``window`` that has a shortcut, then those
    of its image view (keys that work while the image has the focus: arrows, Tab)."""
    rows = []
    view = getattr(window, "image_view", None)
    view_actions = view.actions() if view is not None else []
    for action in window.actions() + view_actions:
        keys = ", ".join(
            k.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()
        )
        if keys:
            text = action.text().replace("&", "").rstrip("…")
            rows.append((keys, text + (" (image focused)" if action in view_actions else "")))
    return rows


def show_help(window: QtWidgets.QWidget) -> QtWidgets.QDialog:
    """A non-modal dialog with the shortcuts and mouse gestures (returned for tests)."""
    dialog = QtWidgets.QDialog(window)
    dialog.setObjectName("help_dialog")
    dialog.setWindowTitle("mtface studio — keyboard and mouse")
    layout = QtWidgets.QVBoxLayout(dialog)
    rows = shortcut_rows(window) + mouse_rows(window)
    table = QtWidgets.QTableWidget(len(rows), 2)
    table.setObjectName("help_table")
    table.setHorizontalHeaderLabels(["Key / gesture", "What it does"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    for r, (keys, text) in enumerate(rows):
        table.setItem(r, 0, QtWidgets.QTableWidgetItem(keys))
        table.setItem(r, 1, QtWidgets.QTableWidgetItem(text))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    layout.addWidget(table)
    close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
    close.rejected.connect(dialog.close)
    layout.addWidget(close)
    dialog.resize(560, 600)
    dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog
