"""The studio window: file list | 2D view | 3D view + pose panel, menus, status bar.

It holds an ImageDocument (core) and forwards the user's actions to its AnnotationSession;
inference runs in an InferenceWorker; VTK is touched only here on the GUI thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from mtface.core.annotation.document import ImageDocument
from mtface.core.formats.annotations import FORMATS, SUFFIX, annotation_path
from mtface.core.formats.atomic import SaveError, atomic_write_bytes
from mtface.core.formats.mesh import write_mesh
from mtface.core.imageio import ImageLoadError, list_images
from mtface.core.topology import Topology
from mtface.core.types import Prediction
from mtface.gui.image_view import ImageView
from mtface.gui.live_mode import LiveMode
from mtface.gui.panels import FileList, PosePanel
from mtface.gui.workers import InferenceWorker

Predict = Callable[[np.ndarray], Prediction]


class MainWindow(QtWidgets.QMainWindow):
    predictionShown = QtCore.Signal()

    def __init__(self, predict: Predict | None, topology: Topology, enable_3d: bool = True,
                 stage2_refine: Callable[..., object] | None = None,
                 live_predictor: object | None = None) -> None:
        super().__init__()
        self.setWindowTitle("mtface studio")
        self.resize(1360, 820)
        self.setAcceptDrops(True)
        self.topology = topology
        self.doc: ImageDocument | None = None
        self.folder: list[Path] = []
        self.index = -1
        self.autosave = False
        self._request = 0
        self._requested_at = 0.0
        self._stage2_refine = stage2_refine
        self.live = LiveMode(self, live_predictor)
        self.worker = InferenceWorker(predict) if predict is not None else None
        if self.worker is not None:
            self.worker.finished.connect(self._on_prediction)
            self.worker.failed.connect(self._on_failure)

        self.image_view = ImageView()
        self.pose_panel = PosePanel()
        self.file_list = FileList()
        self.file_list.currentRowChanged.connect(self._on_row)
        self.mesh_view = None
        right = QtWidgets.QWidget()
        right_layout = QtWidgets.QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        if enable_3d:
            from mtface.gui.mesh_view import MeshView  # noqa: PLC0415

            self.mesh_view = MeshView(topology)
            right_layout.addWidget(self.mesh_view, 1)
        else:
            note = QtWidgets.QLabel("3D view off")
            note.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            right_layout.addWidget(note, 1)
        right_layout.addWidget(self.pose_panel)
        splitter = QtWidgets.QSplitter()
        splitter.addWidget(self.image_view)
        splitter.addWidget(right)
        splitter.setSizes([760, 520])
        self.setCentralWidget(splitter)
        dock = QtWidgets.QDockWidget("Images", self)
        dock.setWidget(self.file_list)
        dock.setObjectName("images_dock")
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.status = self.statusBar()

        self.image_view.landmarks.pointDragged.connect(self._on_drag)
        self.image_view.landmarks.dragFinished.connect(self._on_drag_end)
        self.image_view.landmarks.pointClicked.connect(self._on_point_clicked)
        self.image_view.faceClicked.connect(self._on_face_clicked)
        self._build_actions()

    # --- actions ----------------------------------------------------------------------------

    def _action(self, menu: QtWidgets.QMenu, text: str, slot: Callable[[], None],
                shortcut: str | QtGui.QKeySequence | None = None, checkable: bool = False,
                checked: bool = False) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QtGui.QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.setChecked(checked)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "Open image…", self.open_image_dialog, QtGui.QKeySequence.Open)
        self._action(file_menu, "Open folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self._action(file_menu, "Open annotation…", self.open_annotation_dialog, "Ctrl+L")
        file_menu.addSeparator()
        self._action(file_menu, "Save annotation", self.save, QtGui.QKeySequence.Save)
        export = file_menu.addMenu("Export annotation as")
        for fmt in FORMATS:
            self._action(export, fmt, lambda checked=False, f=fmt: self.export(f))
        self._action(file_menu, "Save mesh…", self.save_mesh_dialog)
        self._action(file_menu, "Save screenshot…", self.save_screenshot_dialog)
        self.autosave_action = self._action(file_menu, "Autosave", self._toggle_autosave,
                                            checkable=True)
        file_menu.addSeparator()
        self._action(file_menu, "Quit", self.close, QtGui.QKeySequence.Quit)

        edit = bar.addMenu("&Edit")
        self.undo_action = self._action(edit, "Undo", self.undo, QtGui.QKeySequence.Undo)
        self.redo_action = self._action(edit, "Redo", self.redo, QtGui.QKeySequence.Redo)
        edit.addSeparator()
        self._action(edit, "Toggle visibility of the selected point", self.toggle_selected, "V")
        self._action(edit, "Reset the selected point", self.reset_selected_point, "R")
        self._action(edit, "Reset the face", self.reset_face, "Shift+R")
        self._action(edit, "Re-run stage 2 from the corrected points", self.rerun_stage2,
                     "Ctrl+R")

        view = bar.addMenu("&View")
        for key, text, shortcut in (("lines", "iBUG-68 lines", "L"),
                                    ("box", "Face box", "B"),
                                    ("dense", "Dense vertices", "D"),
                                    ("stage1", "Stage-1 landmarks", "1"),
                                    ("reference", "Model prediction beside a loaded file", "G")):
            self._action(view, text, lambda checked=False, k=key: self._toggle_option(k),
                         shortcut, checkable=True, checked=self.image_view.options[key])
        self._action(view, "Fit image", self.image_view.fit, "F")
        if self.mesh_view is not None:
            self._action(view, "Textured mesh", self._toggle_texture, "T", checkable=True,
                         checked=True)
            self._action(view, "Reset 3D view", self.mesh_view.reset_view, "Ctrl+0")
        self.live.build_menu(bar.addMenu("&Live"))
        go = bar.addMenu("&Go")
        self._action(go, "Next image", lambda: self.step(1), "PgDown")
        self._action(go, "Previous image", lambda: self.step(-1), "PgUp")
        self._update_actions()

    # --- opening ----------------------------------------------------------------------------

    def open_paths(self, paths: list[Path]) -> None:
        """Open files and folders (command line, menu, drag and drop)."""
        images = list_images([Path(p) for p in paths])
        if not images:
            self.status.showMessage("no images in " + ", ".join(map(str, paths)), 8000)
            return
        if not self.confirm_leave():
            return
        self.folder = images
        self.file_list.set_paths(images)
        for i, p in enumerate(images):
            self.file_list.mark(i, annotation_path(p).exists(), False)
        self.index = -1
        self.file_list.setCurrentRow(0)
        if self.index != 0:  # the row was 0 already
            self._load(0)

    def _on_row(self, row: int) -> None:
        if row < 0 or row == self.index:
            return
        if not self.confirm_leave():
            self.file_list.blockSignals(True)
            self.file_list.setCurrentRow(self.index)
            self.file_list.blockSignals(False)
            return
        self._load(row)

    def step(self, delta: int) -> None:
        if self.folder:
            row = min(max(self.index + delta, 0), len(self.folder) - 1)
            self.file_list.setCurrentRow(row)

    def show_document(self, doc: ImageDocument) -> None:
        """Show a document made elsewhere (a live snapshot)."""
        self.doc = doc
        doc.session.listeners.append(self._refresh)
        self.setWindowTitle(f"mtface studio — {doc.path.name}[*]")
        self.image_view.set_image(doc.image)
        self._refresh()

    def _load(self, row: int) -> None:
        path = self.folder[row]
        self.index = row
        try:
            doc = ImageDocument.open(path)
        except ImageLoadError as exc:
            self.doc = None
            self.image_view.set_image(None)
            self.image_view.set_faces([], 0)
            self.status.showMessage(str(exc), 10000)
            QtWidgets.QMessageBox.warning(self, "Cannot open the image", str(exc))
            return
        self.doc = doc
        doc.session.listeners.append(self._refresh)
        self.setWindowTitle(f"mtface studio — {path.name}[*]")
        self.image_view.selected_point = None
        self.image_view.set_image(doc.image)
        if doc.annotation_error:
            QtWidgets.QMessageBox.warning(
                self, "Annotation not readable",
                f"{doc.annotation_error}\n\nThe file is left untouched; saving will write a "
                "new file beside it.")
        self._refresh()
        self._run_model()

    def _run_model(self) -> None:
        if self.worker is None or self.doc is None:
            return
        self._request += 1
        self._requested_at = time.perf_counter()
        self.status.showMessage(f"reconstructing {self.doc.path.name}…")
        self.worker.submit(self._request, self.doc.image)

    def _on_prediction(self, request_id: int, prediction: Prediction) -> None:
        if request_id != self._request or self.doc is None:
            return  # a stale result for an image no longer shown
        self.doc.apply_prediction(prediction)
        t = prediction.timings
        wall = (time.perf_counter() - self._requested_at) * 1e3
        found = len(prediction.faces)
        self.status.showMessage(
            f"{found} face(s) · detector {t.detect_ms:.1f} ms · cascade "
            f"{sum(t.stage_ms):.1f} ms · post {t.post_ms:.1f} ms · total {t.total_ms:.1f} ms "
            f"(shown after {wall:.0f} ms)" + ("" if found else " · no face found"))
        self._refresh()
        self.predictionShown.emit()

    def _on_failure(self, request_id: int, message: str) -> None:
        if request_id == self._request:
            self.status.showMessage(f"reconstruction failed: {message}", 15000)

    # --- drawing ----------------------------------------------------------------------------

    def _refresh(self) -> None:
        doc = self.doc
        if doc is None:
            return
        session = doc.session
        self.image_view.set_faces(session.faces, session.selected, doc.reference_landmarks())
        face = session.current()
        self.pose_panel.show_pose(face.pose if face is not None else None)
        if self.mesh_view is not None:
            self.mesh_view.show_face(face.face if face is not None else None, doc.image,
                                     face.visible if face is not None and face.face is not None
                                     and len(face.visible) == 68 else None)
        if 0 <= self.index < len(self.folder):
            self.file_list.mark(self.index, doc.has_saved_annotation, session.dirty)
        self.setWindowModified(session.dirty)
        self._update_actions()

    def _update_actions(self) -> None:
        session = self.doc.session if self.doc is not None else None
        self.undo_action.setEnabled(bool(session and session.can_undo))
        self.redo_action.setEnabled(bool(session and session.can_redo))
        self.undo_action.setText("Undo " + session.undo_text if session and session.can_undo
                                 else "Undo")
        self.redo_action.setText("Redo " + session.redo_text if session and session.can_redo
                                 else "Redo")

    def _toggle_option(self, key: str) -> None:
        self.image_view.options[key] = not self.image_view.options[key]
        self._refresh()

    def _toggle_texture(self) -> None:
        if self.mesh_view is not None:
            self.mesh_view.textured = not self.mesh_view.textured
            self._refresh()

    def _toggle_autosave(self) -> None:
        self.autosave = self.autosave_action.isChecked()

    # --- editing ----------------------------------------------------------------------------

    def _on_drag(self, index: int, x: float, y: float) -> None:
        if self.doc is not None and self.doc.session.current() is not None:
            self.image_view.selected_point = index
            self.doc.session.move_point(index, (x, y))

    def _on_drag_end(self, _index: int) -> None:
        if self.doc is not None:
            self.doc.session.end_merge()
            self._maybe_autosave()

    def _on_point_clicked(self, index: int, modifiers: QtCore.Qt.KeyboardModifier) -> None:
        if self.doc is None:
            return
        self.image_view.selected_point = index
        if modifiers & QtCore.Qt.KeyboardModifier.ControlModifier:
            self.doc.session.toggle_visibility(index)
            self._maybe_autosave()
        else:
            self._refresh()

    def _on_face_clicked(self, face_index: int) -> None:
        if self.doc is not None:
            self.image_view.selected_point = None
            self.doc.session.select(face_index)

    def undo(self) -> None:
        if self.doc is not None:
            self.doc.session.undo()

    def redo(self) -> None:
        if self.doc is not None:
            self.doc.session.redo()

    def toggle_selected(self) -> None:
        if self.doc is not None and self.image_view.selected_point is not None:
            self.doc.session.toggle_visibility(self.image_view.selected_point)
            self._maybe_autosave()

    def reset_selected_point(self) -> None:
        if self.doc is not None and self.image_view.selected_point is not None:
            self.doc.session.reset_point(self.image_view.selected_point)

    def reset_face(self) -> None:
        if self.doc is not None and self.doc.session.current() is not None:
            self.doc.session.reset_face()

    def rerun_stage2(self) -> None:
        """Stage 2 again, with MSIF taken around the human's landmarks."""
        doc = self.doc
        face = doc.session.current() if doc is not None else None
        if self._stage2_refine is None or face is None or len(face.landmarks) != 68:
            self.status.showMessage("re-running stage 2 needs the model and a 68-point face",
                                    6000)
            return
        new_face = self._stage2_refine(doc.image, face.landmarks, face.visible, face.box)
        doc.session.replace_prediction(doc.session.selected, new_face)

    # --- saving -----------------------------------------------------------------------------

    def _maybe_autosave(self) -> None:
        if self.autosave and self.doc is not None and self.doc.session.dirty:
            self.save()

    def save(self) -> bool:
        return self.export("labelme", default=True)

    def export(self, fmt: str, default: bool = False, target: Path | None = None) -> bool:
        doc = self.doc
        if doc is None or not doc.session.faces:
            self.status.showMessage("nothing to save", 5000)
            return False
        if not default and target is None:
            suggested = str(annotation_path(doc.path, fmt))
            name, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, f"Export {fmt}", suggested, f"{fmt} (*{SUFFIX[fmt]})")
            if not name:
                return False
            target = Path(name)
        try:
            written = doc.save(fmt, target)
        except (SaveError, ValueError) as exc:
            QtWidgets.QMessageBox.critical(self, "Not saved", f"{exc}\n\nYour edits are kept.")
            return False
        self.status.showMessage("saved " + ", ".join(p.name for p in written), 6000)
        self._refresh()
        return True

    def save_mesh_dialog(self) -> None:
        face = self.doc.session.current() if self.doc is not None else None
        if face is None or face.face is None:
            self.status.showMessage("no reconstructed mesh to save", 5000)
            return
        name, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save mesh", str(self.doc.path.with_suffix(".obj")), "Mesh (*.obj *.ply)")
        if name:
            self.save_mesh(Path(name))

    def save_mesh(self, path: Path) -> None:
        face = self.doc.session.current()
        try:
            write_mesh(path, face.face.vertices, self.topology.triangles,
                       self.topology.uv if path.suffix.lower() == ".obj" else None)
        except (SaveError, ValueError) as exc:
            QtWidgets.QMessageBox.critical(self, "Mesh not saved", str(exc))
            return
        self.status.showMessage(f"saved {path.name}", 6000)

    def save_screenshot_dialog(self) -> None:
        if self.doc is None:
            return
        name, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save screenshot", str(self.doc.path.with_name(self.doc.path.stem
                                                                 + "_studio.png")),
            "PNG (*.png)")
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
            self, "Unsaved edits", f"Save the edits of {self.doc.path.name}?",
            QtWidgets.QMessageBox.StandardButton.Save
            | QtWidgets.QMessageBox.StandardButton.Discard
            | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Save)
        if answer == QtWidgets.QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QtWidgets.QMessageBox.StandardButton.Discard

    # --- dialogs, drag and drop, closing ----------------------------------------------------

    def open_image_dialog(self) -> None:
        name, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open image", "", "Images (*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp)")
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
            self, "Open annotation", str(self.doc.path.parent),
            "Annotations (*.json *.csv *.pts *.mat)")
        if name and self.confirm_leave():
            self.open_annotation(Path(name))

    def open_annotation(self, path: Path) -> None:
        self.doc.load_annotation(path)
        if self.doc.annotation_error:
            QtWidgets.QMessageBox.warning(self, "Annotation not readable",
                                          self.doc.annotation_error)
            return
        if self.doc.prediction is not None:
            self.doc.apply_prediction(self.doc.prediction)
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
        if self.worker is not None:
            self.worker.stop()
        if self.mesh_view is not None:
            self.mesh_view.close_plotter()
        event.accept()
