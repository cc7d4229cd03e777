"""The image list as a review queue: each image with an icon for its state (unreviewed,
reviewed, unsaved, no face, unreadable image or annotation) and its marks (* unsaved, ✓ saved,
[lowest face confidence], flags), sorted by folder order or least confident first, filtered to
all / unsaved / unreviewed / low-confidence images. A background scanner fills in the statuses
of images not opened yet (the saved file's record, or a prediction).

The logic is core's (core/annotation/review.py, core/confidence.py); this module only shows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from mtface.core.annotation.review import (
    FILTERS,
    SORTS,
    STATES,
    ImageStatus,
    review_order,
    scan_annotation,
)
from mtface.core.confidence import LOW_CONFIDENCE
from mtface.core.imageio import ImageLoadError, load_image

INDEX_ROLE = QtCore.Qt.ItemDataRole.UserRole

#: What the number in brackets is, for the list's and the filter's tooltips (the definition
#: is core/confidence.py's, the same number `predict`, `annotate` and the files report).
CONFIDENCE_HELP = (
    "[0.48]: the model's confidence in the image's least certain face, from 0 to 1 "
    "(core/confidence.py: how far its points move when the face is mirrored and between its "
    "two stages; 0.5 is the median of ordinary faces). Below "
    f"{LOW_CONFIDENCE:.2f} a face counts as low confidence: check those first "
    "(filter 'low confidence', sort 'least confident first')."
)

#: Per list state: (glyph, colour) of its icon and the words of its tooltip.
STATE_LOOK = {
    "unreadable image": ("✕", "#c62828", "the image cannot be read"),
    "unreadable annotation": ("⚠", "#ef6c00", "its annotation file cannot be read"),
    "unsaved": ("●", "#f9a825", "unsaved edits"),
    "no face": ("∅", "#6a1b9a", "no face (none found, or flagged 'no face')"),
    "reviewed": ("✓", "#2e7d32", "reviewed by a person"),
    "unreviewed": ("○", "#757575", "not reviewed yet"),
}
assert set(STATE_LOOK) == set(STATES)


def state_icon(state: str) -> QtGui.QIcon:
    """A 16 px icon: the state's glyph in its colour (STATE_LOOK)."""
    glyph, colour, _ = STATE_LOOK[state]
    pixmap = QtGui.QPixmap(16, 16)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    font = painter.font()
    font.setPixelSize(14)
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QtGui.QColor(colour))
    painter.drawText(pixmap.rect(), QtCore.Qt.AlignmentFlag.AlignCenter, glyph)
    painter.end()
    return QtGui.QIcon(pixmap)


class FileList(QtWidgets.QListWidget):
    """The images of the open folder in review order. Rows map to folder indices through
    ``INDEX_ROLE``; ``imageChosen(index)`` says which image the person picked."""

    imageChosen = QtCore.Signal(int)
    changed = QtCore.Signal()  # a status or the listed images changed

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths: list[Path] = []
        self.statuses: list[ImageStatus] = []
        self.sort, self.filter = "folder", "all"
        self.current_index = -1
        self.live_label: str | None = None
        self._offset = 0  # rows above the images (the live source's row)
        self._shown: list[int] = []
        self._icons = {state: state_icon(state) for state in STATE_LOOK}
        self.currentRowChanged.connect(self._on_row)

    # --- content ----------------------------------------------------------------------------

    def set_paths(self, paths: list[Path], statuses: list[ImageStatus] | None = None) -> None:
        self.paths = list(paths)
        self.statuses = statuses or [ImageStatus() for _ in self.paths]
        self.live_label = None
        self.current_index = -1
        self._rebuild()

    def add_path(self, path: Path, status: ImageStatus | None = None) -> int:
        """Append an image (a live snapshot) to the list; returns its index."""
        self.paths.append(Path(path))
        self.statuses.append(status or ImageStatus())
        self._rebuild()
        return len(self.paths) - 1

    def show_live(self, label: str | None) -> None:
        """During live mode a first row names the source (no image is current); the folder's
        images stay listed below it. ``None`` ends it."""
        self.live_label = label
        if label is not None:
            self.current_index = -1
        self._rebuild()

    def update_status(self, index: int, **changes: object) -> None:
        if not 0 <= index < len(self.statuses):
            return
        status = self.statuses[index]
        changed = [key for key, value in changes.items() if getattr(status, key) != value]
        if not changed:
            return  # e.g. every step of a drag after the first: nothing to redraw
        for key in changed:
            setattr(status, key, changes[key])
        if self.order() != self._shown:
            self._rebuild()
            return
        row = self.row_of(index)
        if row >= 0:
            self._fill(self.item(row), index)
        self.changed.emit()

    def set_review(self, sort: str, filter_: str) -> None:
        self.sort, self.filter = sort, filter_
        self._rebuild()

    def matching(self) -> list[int]:
        """The images the sort and filter list, in order (without the open image's exception)."""
        return review_order(self.statuses, self.sort, self.filter)

    def order(self) -> list[int]:
        order = self.matching()
        if 0 <= self.current_index < len(self.paths) and self.current_index not in order:
            order.append(self.current_index)  # the open image stays listed, marked as such
        return order

    def _fill(self, item: QtWidgets.QListWidgetItem, index: int) -> None:
        """An image's row: its state icon, marks and a tooltip that explains them; the open
        image, listed only because it is open, greyed and saying so."""
        status = self.statuses[index]
        item.setText(status.label(self.paths[index].name))
        item.setIcon(self._icons[status.state])
        tip = [f"{self.paths[index].name}: {STATE_LOOK[status.state][2]}"]
        if status.flags:
            tip.append("flags: " + ", ".join(status.flags))
        outside = (
            index == self.current_index
            and self.filter != "all"
            and not review_order([status], "folder", self.filter)  # O(1): one status
        )
        if outside:
            tip.append(f"shown because it is open: it no longer matches '{self.filter}'")
        tip.append(CONFIDENCE_HELP)
        item.setToolTip("\n".join(tip))
        font = item.font()
        font.setItalic(outside)
        item.setFont(font)
        item.setForeground(
            self.palette().color(
                QtGui.QPalette.ColorRole.PlaceholderText
                if outside
                else QtGui.QPalette.ColorRole.Text
            )
        )

    def refresh(self) -> None:
        """List the images again (after ``current_index`` changed outside the list)."""
        self._rebuild()

    def _rebuild(self) -> None:
        self.blockSignals(True)
        self.clear()
        self._offset = 0
        if self.live_label is not None:
            item = QtWidgets.QListWidgetItem(self.live_label)
            item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            self.addItem(item)
            self._offset = 1
        self._shown = self.order()
        for index in self._shown:
            item = QtWidgets.QListWidgetItem()
            self._fill(item, index)
            item.setData(INDEX_ROLE, index)
            self.addItem(item)
        row = self.row_of(self.current_index)
        if row >= 0:
            self.setCurrentRow(row)
        self.blockSignals(False)
        self.changed.emit()

    # --- rows and indices -------------------------------------------------------------------

    def row_of(self, index: int) -> int:
        try:
            return self._shown.index(index) + self._offset
        except ValueError:
            return -1

    def index_at(self, row: int) -> int:
        row -= self._offset
        return self._shown[row] if 0 <= row < len(self._shown) else -1

    def select_index(self, index: int) -> None:
        """Make ``index`` current (emits imageChosen when it changes)."""
        row = self.row_of(index)
        if row >= 0:
            self.setCurrentRow(row)

    def restore(self) -> None:
        """Back to the open image's row, current and highlighted, without a signal (a
        cancelled change). Also done once control is back in the event loop: a mouse click's
        own selection comes after the row change that asked, and would highlight its row."""
        self._restore_now()
        QtCore.QTimer.singleShot(0, self._restore_now)

    def _restore_now(self) -> None:
        self.blockSignals(True)
        row = self.row_of(self.current_index)
        self.setCurrentRow(row)
        self.clearSelection()
        if row >= 0:
            self.item(row).setSelected(True)
        self.blockSignals(False)

    def neighbour(self, delta: int) -> int:
        """The image ``delta`` rows away from the open one in the review order."""
        if not self._shown:
            return -1
        row = self.row_of(self.current_index) - self._offset
        row = min(max(row + delta, 0), len(self._shown) - 1) if row >= 0 else 0
        return self._shown[row]

    def _on_row(self, row: int) -> None:
        index = self.index_at(row)
        if index >= 0:
            self.imageChosen.emit(index)


class ReviewBar(QtWidgets.QWidget):
    """Sort and filter choices above the image list."""

    changed = QtCore.Signal(str, str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.sort_box = QtWidgets.QComboBox()
        self.sort_box.addItems(["folder order", "least confident first"])
        self.filter_box = QtWidgets.QComboBox()
        self.filter_box.addItems(list(FILTERS))
        self.sort_box.setToolTip(
            "Order of the images: as in the folder, or the faces the model is least sure of "
            "first.\n" + CONFIDENCE_HELP
        )
        self.filter_box.setToolTip(
            "Show every image, those without a saved annotation (or with unsaved edits), those "
            "no person has reviewed yet, or those with a low-confidence face "
            f"(confidence below {LOW_CONFIDENCE:.2f}).\n" + CONFIDENCE_HELP
        )
        layout.addWidget(QtWidgets.QLabel("Sort:"))
        layout.addWidget(self.sort_box, 1)
        layout.addWidget(QtWidgets.QLabel("Show:"))
        layout.addWidget(self.filter_box, 1)
        self.sort_box.currentIndexChanged.connect(self._emit)
        self.filter_box.currentIndexChanged.connect(self._emit)

    def set_choice(self, sort: str, filter_: str) -> None:
        self.sort_box.setCurrentIndex(SORTS.index(sort))
        self.filter_box.setCurrentIndex(FILTERS.index(filter_))

    def _emit(self) -> None:
        self.changed.emit(
            SORTS[self.sort_box.currentIndex()], FILTERS[self.filter_box.currentIndex()]
        )


Score = Callable[[object], float | None]


class ReviewScanner(QtCore.QObject):
    """Fills in the status of every image of a folder in a background thread: the saved
    annotation's record, else a prediction's lowest confidence and face count
    (``score(image) -> (confidence | None, faces)``); an image that cannot be read is marked
    so. It yields to the interactive worker: ``busy`` is the lock both take around a
    prediction. ``scanned(generation, index, status)``."""

    scanned = QtCore.Signal(int, int, object)

    def __init__(
        self,
        score: Callable[[object], tuple[float | None, int]] | None,
        busy: threading.Lock,
    ) -> None:
        super().__init__()
        self._score = score
        self._busy = busy
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(
        self, paths: list[Path], statuses: list[ImageStatus] | None = None, skip: int = -1
    ) -> int:
        """Scan ``paths`` (stops a previous scan); ``statuses`` already read spare the
        annotation files a second reading; ``skip`` is the open image's index. Returns the
        scan's generation."""
        self.stop()
        self._generation += 1
        self._stop = threading.Event()
        known = [replace(s, dirty=False) for s in statuses] if statuses is not None else None
        self._thread = threading.Thread(
            target=self._run,
            args=(list(paths), known, skip, self._generation, self._stop),
            daemon=True,
            name="mtface-review-scan",
        )
        self._thread.start()
        return self._generation

    def _run(
        self,
        paths: list[Path],
        known: list[ImageStatus] | None,
        skip: int,
        generation: int,
        stop: threading.Event,
    ) -> None:
        for index, path in enumerate(paths):
            if stop.is_set():
                return
            if index == skip:
                continue  # the open image: its document has the figures
            status = known[index] if known is not None else scan_annotation(path)
            if status.confidence is not None and status.faces is not None:
                continue
            if status.annotation != "unreadable" and status.faces is None:
                try:
                    image = load_image(path)
                except ImageLoadError:
                    image, status.image_error = None, True
                if image is not None and self._score is not None:
                    with self._busy:
                        if stop.is_set():
                            return
                        try:
                            status.confidence, status.faces = self._score(image)
                        except Exception:  # noqa: BLE001 - a status, never a crash
                            status.confidence = None
                    time.sleep(0.005)  # let the GUI and the interactive worker in
            if stop.is_set():
                return
            self.scanned.emit(generation, index, status)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)
        self._thread = None
