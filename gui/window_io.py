"""The studio window's file side: saving and exporting annotations, meshes and screenshots,
the unsaved-edits prompt, open dialogs, drag and drop and closing. A mixin of MainWindow
(gui/main_window.py), split off to keep each module small; it only shows and forwards."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6 import QtGui, QtWidgets

from mtface.core.annotation.folder import folder_formats
from mtface.core.formats.annotations import SUFFIX, annotation_path
from mtface.core.formats.atomic import SaveError, atomic_write_bytes


class WindowFiles:
    """Mixin: needs ``doc``, ``status``, ``image_view``, ``mesh_view``, ``topology``,
    ``autosave``, ``live``, ``worker``, ``scanner``, ``_refresh`` from MainWindow."""

    # --- saving -----------------------------------------------------------------------------

    def _maybe_autosave(self) -> None:
        if self.autosave and self.doc is not None and self.doc.session.dirty:
            self.save()

    def save(self) -> bool:
        """Ctrl+S: the faces and the review state in every format chosen for the image's
        folder (core/annotation/folder.py) and every format already beside the image, so no
        export goes stale. An image without faces is saved too when it was reviewed, flagged
        or changed (its file records that)."""
        doc = self.doc
        if doc is None:
            self.status.showMessage("nothing to save", 5000)
            return False
        review = doc.review
        if not (doc.session.faces or doc.session.dirty or review.reviewed or review.flags):
            self.status.showMessage(
                "nothing to save: no face (A adds one, Ctrl+Enter marks the image reviewed)", 8000
            )
            return False
        try:
            written = doc.save_all(folder_formats(doc.path.parent))
        except (SaveError, ValueError) as exc:
            QtWidgets.QMessageBox.critical(self, "Not saved", f"{exc}\n\nYour edits are kept.")
            return False
        self._report_saved(written)
        return True

    def _report_saved(self, written: list[Path]) -> None:
        doc = self.doc
        message = f"saved ({doc.review.state}) " + ", ".join(p.name for p in written)
        if doc.set_aside is not None:
            message += f"; the unreadable file was kept as {doc.set_aside.name}"
            QtWidgets.QMessageBox.information(
                self,
                "Unreadable annotation kept",
                f"The annotation file that could not be read was moved to\n{doc.set_aside}\n"
                f"and your work was saved as {written[0].name}.",
            )
        self.status.showMessage(message, 10000)
        self._refresh()

    def export(self, fmt: str, default: bool = False, target: Path | None = None) -> bool:
        """Write one format (asks where unless ``target``); an export written beside the image
        is kept current by every later save."""
        doc = self.doc
        if doc is None or not doc.session.faces:
            self.status.showMessage("nothing to export", 5000)
            return False
        if not default and target is None:
            suggested = str(annotation_path(doc.path, fmt))
            name, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, f"Export {fmt}", suggested, f"{fmt} (*{SUFFIX[fmt]})"
            )
            if not name:
                return False
            target = Path(name)
        try:
            written = doc.save(fmt, target, mark_saved=False)
        except (SaveError, ValueError) as exc:
            QtWidgets.QMessageBox.critical(self, "Not saved", f"{exc}\n\nYour edits are kept.")
            return False
        self._report_saved(written)
        return True

    def save_mesh_dialog(self) -> None:
        face = self.doc.session.current() if self.doc is not None else None
        if face is None or face.face is None:
            self.status.showMessage("no reconstructed mesh to save", 5000)
            return
        name, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save mesh", str(self.doc.path.with_suffix(".obj")), "Mesh (*.obj *.ply)"
        )
        if name:
            self.save_mesh(Path(name))

    def save_mesh(self, path: Path) -> None:
        from mtface.core.formats.mesh import write_mesh

        face = self.doc.session.current()
        try:
            write_mesh(
                path,
                face.face.vertices,
                self.topology.triangles,
                self.topology.uv if path.suffix.lower() == ".obj" else None,
            )
        except (SaveError, ValueError) as exc:
            QtWidgets.QMessageBox.critical(self, "Mesh not saved", str(exc))
            return
        self.status.showMessage(f"saved {path.name}", 6000)

    def save_screenshot_dialog(self) -> None:
        if self.doc is None:
            return
        name, _ = QtWidgets.QFileDialog.getSaveFileName(
            self,
            "Save screenshot",
            str(self.doc.path.with_name(self.doc.path.stem + "_studio.png")),
            "PNG (*.png)",
        )
        if name:
            self.save_screenshot(Path(name))

    def save_screenshot(self, path: Path) -> None:
        """Both views side by side as one PNG."""
        left = self.image_view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
        arr = np.asarray(left.constBits()).reshape(left.height(), left.bytesPerLine())
        arr = arr[:, : left.width() * 3].reshape(left.height(), left.width(), 3)
        parts = [arr]
        if self.mesh_view is not None:
            right = self.mesh_view.screenshot()[..., :3]
            scale = arr.shape[0] / right.shape[0]
            parts.append(cv2.resize(right, (max(1, int(right.shape[1] * scale)), arr.shape[0])))
        ok, data = cv2.imencode(".png", cv2.cvtColor(np.hstack(parts), cv2.COLOR_RGB2BGR))
        try:
            atomic_write_bytes(path, data.tobytes())
        except SaveError as exc:
            QtWidgets.QMessageBox.critical(self, "Screenshot not saved", str(exc))
            return
        self.status.showMessage(f"saved {path.name}", 6000)

    def confirm_leave(self) -> bool:
        """Ask before unsaved edits would be dropped; True when it is fine to go on."""
        if self.doc is None or not self.doc.session.dirty:
            return True
        if self.autosave:
            return self.save()
        answer = QtWidgets.QMessageBox.question(
            self,
            "Unsaved edits",
            f"Save the edits of {self.doc.path.name}?",
            QtWidgets.QMessageBox.StandardButton.Save
            | QtWidgets.QMessageBox.StandardButton.Discard
            | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Save,
        )
        if answer == QtWidgets.QMessageBox.StandardButton.Save:
            return self.save()
        if answer == QtWidgets.QMessageBox.StandardButton.Discard:
            self.doc.session.mark_discarded()  # no stale "*" on the image left behind
            return True
        return False

    # --- dialogs, drag and drop, closing ----------------------------------------------------

    def open_image_dialog(self) -> None:
        name, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open image", "", "Images (*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp)"
        )
        if name:
            self.open_paths([Path(name)])

    def open_folder_dialog(self) -> None:
        name = QtWidgets.QFileDialog.getExistingDirectory(self, "Open folder")
        if name:
            self.open_paths([Path(name)])

    def open_annotation_dialog(self) -> None:
        if self.doc is None:
            return
        name, _ = QtWidgets.QFileDialog.getOpenFileName(
            self,
            "Open annotation",
            str(self.doc.path.parent),
            "Annotations (*.json *.csv *.pts *.mat)",
        )
        if name:
            self.open_annotation(Path(name))

    def open_annotation(self, path: Path) -> None:
        """Ctrl+L: the file's faces replace the current ones as an undoable, unsaved change
        (leaving the image asks about it like any edit)."""
        if not self.doc.load_annotation_as_edit(path):
            QtWidgets.QMessageBox.warning(
                self, "Annotation not readable", self.doc.annotation_error
            )
            return
        if self.doc.prediction is not None:
            self.doc.apply_prediction(self.doc.prediction)  # the model's mesh beside them
        self.status.showMessage(f"loaded {path.name}: unsaved until you save (Ctrl+Z undoes)")
        self._refresh()

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self.confirm_leave():
            event.ignore()
            return
        self.live.stop()
        self.scanner.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.mesh_view is not None:
            self.mesh_view.close_plotter()
        event.accept()
