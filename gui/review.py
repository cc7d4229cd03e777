"""The image list as a review queue: each image with its status (* unsaved, ✓ saved,
⚠ unreadable annotation, [lowest face confidence]), sorted by folder order or least confident
first, filtered to all / unsaved / low-confidence images. A background scanner fills in the
statuses of images not opened yet (the saved file's recorded confidence, or a prediction).

The logic is core's (core/annotation/review.py, core/confidence.py); this module only shows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from mtface.core.annotation.review import FILTERS, SORTS, ImageStatus, review_order, scan_annotation
from mtface.core.imageio import ImageLoadError, load_image

INDEX_ROLE = QtCore.Qt.ItemDataRole.UserRole


class FileList(QtWidgets.QListWidget):
    """The images of the open folder in review order. Rows map to folder indices through
    ``INDEX_ROLE``; ``imageChosen(index)`` says which image the person picked."""

    imageChosen = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths: list[Path] = []
        self.statuses: list[ImageStatus] = []
        self.sort, self.filter = "folder", "all"
        self.current_index = -1
        self.live_label: str | None = None
        self.currentRowChanged.connect(self._on_row)

    # --- content ----------------------------------------------------------------------------

    def set_paths(self, paths: list[Path], statuses: list[ImageStatus] | None = None) -> None:
        self.paths = list(paths)
        self.statuses = statuses or [ImageStatus() for _ in self.paths]
        self.live_label = None
        self.current_index = -1
        self._rebuild()

    def show_live(self, label: str) -> None:
        """During live mode the list names the source, not the last still image."""
        self.paths, self.statuses, self.live_label = [], [], label
        self.current_index = -1
        self._rebuild()

    def update_status(self, index: int, **changes: object) -> None:
        if not 0 <= index < len(self.statuses):
            return
        status = self.statuses[index]
        for key, value in changes.items():
            setattr(status, key, value)
        if self.order() != self._shown:
            self._rebuild()
            return
        row = self.row_of(index)
        if row >= 0:
            self.item(row).setText(status.label(self.paths[index].name))

    def set_review(self, sort: str, filter_: str) -> None:
        self.sort, self.filter = sort, filter_
        self._rebuild()

    def order(self) -> list[int]:
        order = review_order(self.statuses, self.sort, self.filter)
        if 0 <= self.current_index < len(self.paths) and self.current_index not in order:
            order.append(self.current_index)  # the open image stays listed
        return order

    def _rebuild(self) -> None:
        self.blockSignals(True)
        self.clear()
        if self.live_label is not None:
            item = QtWidgets.QListWidgetItem(self.live_label)
            item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            self.addItem(item)
            self._shown = []
        else:
            self._shown = self.order()
            for index in self._shown:
                item = QtWidgets.QListWidgetItem(self.statuses[index].label(self.paths[index].name))
                item.setData(INDEX_ROLE, index)
                self.addItem(item)
            row = self.row_of(self.current_index)
            if row >= 0:
                self.setCurrentRow(row)
        self.blockSignals(False)

    # --- rows and indices -------------------------------------------------------------------

    def row_of(self, index: int) -> int:
        try:
            return self._shown.index(index)
        except (ValueError, AttributeError):
            return -1

    def index_at(self, row: int) -> int:
        return self._shown[row] if 0 <= row < len(self._shown) else -1

    def select_index(self, index: int) -> None:
        """Make ``index`` current (emits imageChosen when it changes)."""
        row = self.row_of(index)
        if row >= 0:
            self.setCurrentRow(row)

    def restore(self) -> None:
        """Back to the open image's row without a signal (a cancelled change)."""
        self.blockSignals(True)
        self.setCurrentRow(self.row_of(self.current_index))
        self.blockSignals(False)

    def neighbour(self, delta: int) -> int:
        """The image ``delta`` rows away from the open one in the review order."""
        row = self.row_of(self.current_index)
        if not self._shown:
            return -1
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
        self.filter_box.addItems(["all", "unsaved", "low confidence"])
        self.sort_box.setToolTip(
            "Order of the images: as in the folder, or the faces the model is least sure of first"
        )
        self.filter_box.setToolTip(
            "Show every image, those without a saved annotation (or with "
            "unsaved edits), or those with a low-confidence face"
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
    annotation's state and recorded confidence, else the lowest confidence of a prediction
    (``score(image) -> float | None``). It yields to the interactive worker: ``busy`` is the
    lock both take around a prediction. ``scanned(generation, index, status)``."""

    scanned = QtCore.Signal(int, int, object)

    def __init__(
        self, score: Callable[[object], float | None] | None, busy: threading.Lock
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
        known = (
            [ImageStatus(s.annotation, False, s.confidence) for s in statuses]
            if statuses is not None
            else None
        )
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
            if status.confidence is not None:
                continue
            if (
                status.confidence is None
                and status.annotation != "unreadable"
                and self._score is not None
            ):
                try:
                    image = load_image(path)
                except ImageLoadError:
                    image = None
                if image is not None:
                    with self._busy:
                        if stop.is_set():
                            return
                        try:
                            status.confidence = self._score(image)
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
