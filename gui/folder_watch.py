"""The image list follows the folder: images added or removed on disk appear or go (a
QFileSystemWatcher on the opened folders, debounced so that a copy of many files or an
atomic save is one refresh). The open image and its unsaved edits are never touched: it stays
in the list, current, even when its file was removed, until the person moves on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore

from mtface.core.annotation.review import ImageStatus, scan_annotation
from mtface.core.imageio import list_images

if TYPE_CHECKING:
    from mtface.gui.main_window import MainWindow

DEBOUNCE_MS = 500


class FolderWatcher(QtCore.QObject):
    """Watches the folders of the last :meth:`watch` and refreshes ``window``'s list."""

    refreshed = QtCore.Signal(int, int)  # images added, images removed

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.paths: list[Path] = []
        self.listed: list[Path] = []  # the list as this watcher last set or saw it
        self.watcher = QtCore.QFileSystemWatcher(self)
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.refresh)
        self.watcher.directoryChanged.connect(lambda _path: self.timer.start())

    def watch(self, paths: list[Path]) -> None:
        """Follow the folders among ``paths`` (single images opened alone are not followed)."""
        self.stop()
        self.paths = [Path(p) for p in paths]
        self.listed = list(self.window.folder)
        folders = [str(p) for p in self.paths if p.is_dir()]
        if folders:
            self.watcher.addPaths(folders)

    def stop(self) -> None:
        self.timer.stop()
        watched = self.watcher.directories()
        if watched:
            self.watcher.removePaths(watched)
        self.paths = []

    def refresh(self) -> None:
        """List the folders again; when the images differ, update the list in place."""
        w = self.window
        if not self.paths or w.folder != self.listed or w.file_list.live_label is not None:
            return  # live mode or a snapshot replaced the folder's list: not ours to change
        current = w.folder[w.index] if 0 <= w.index < len(w.folder) else None
        images = list_images(self.paths)
        if current is not None and current not in images:
            images.append(current)  # the open image stays until the person leaves it
        if images == w.folder:
            return
        known = dict(zip(w.folder, w.file_list.statuses))
        statuses: list[ImageStatus] = [known.get(p) or scan_annotation(p) for p in images]
        added = len(set(images) - set(w.folder))
        removed = len(set(w.folder) - set(images))
        w.scanner.stop()  # its indices are the old list's
        w.folder = self.listed = images
        w.index = images.index(current) if current is not None else -1
        w.file_list.set_paths(images, statuses)
        w.file_list.current_index = w.index
        w.file_list.restore()  # the open image's row, without a signal
        w.restart_scan(images, statuses)
        w.status.showMessage(f"folder changed: {added} image(s) added, {removed} removed", 6000)
        self.refreshed.emit(added, removed)
