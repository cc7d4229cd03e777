"""The studio window: review queue (image list) | 2D view | 3D view + pose panel, menus,
status bar.

It holds an ImageDocument (core) and forwards the user's actions to its AnnotationSession;
inference runs in an InferenceWorker; VTK is touched only here on the GUI thread. Saving,
dialogs and closing are in gui/window_io.py; predictions, J and added faces in
gui/window_model.py; the help dialog and legend in gui/help.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from mtface.core.annotation.document import ImageDocument
from mtface.core.annotation.review import ImageStatus, scan_annotation
from mtface.core.annotation.session import EVERYTHING, SessionEvent
from mtface.core.formats.annotations import FORMATS
from mtface.core.imageio import ImageLoadError, list_images
from mtface.core.topology import Topology
from mtface.gui.comfort import Comfort
from mtface.gui.folder_watch import FolderWatcher
from mtface.gui.group_edit import GroupEditor
from mtface.gui.help import Legend, show_help
from mtface.gui.image_view import ImageView
from mtface.gui.live_menu import LiveMode
from mtface.gui.panels import PosePanel
from mtface.gui.review import FileList, ReviewBar, ReviewScanner
from mtface.gui.window_io import WindowFiles
from mtface.gui.window_model import Predict, Score, WindowModel
from mtface.gui.window_review import WindowReview
from mtface.gui.workers import InferenceWorker


class MainWindow(WindowModel, WindowReview, WindowFiles, QtWidgets.QMainWindow):
    predictionShown = QtCore.Signal()

    def __init__(
        self,
        predict: Predict | None,
        topology: Topology,
        enable_3d: bool = True,
        stage2_refine: Callable[..., object] | None = None,
        live_predictor: object | None = None,
        score: Score | None = None,
        set_landmarks: Callable[[str], None] | None = None,
        landmarks: str = "3d",
    ) -> None:
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
        self._predict = predict
        self._score = score
        self._stage2_refine = stage2_refine
        self._set_landmarks = set_landmarks
        self.landmarks = landmarks
        self._busy = threading.Lock()  # one prediction at a time: the worker or the scanner
        self.live = LiveMode(self, live_predictor)
        self.worker = InferenceWorker(self._predict_scored) if predict is not None else None
        if self.worker is not None:
            self.worker.finished.connect(self._on_prediction)
            self.worker.failed.connect(self._on_failure)
        self.scanner = ReviewScanner(
            self._lowest_confidence if predict is not None else None, self._busy
        )
        self.scanner.scanned.connect(self._on_scanned)
        self._scan_generation = -1
        self._scan_pending: tuple[list[Path], list[ImageStatus]] | None = None

        self.image_view = ImageView()
        self.pose_panel = PosePanel()
        self.file_list = FileList()
        self.file_list.imageChosen.connect(self._on_image_chosen)
        self.review_bar = ReviewBar()
        self.review_bar.changed.connect(self.on_filter_chosen)
        self.mesh_view = None
        self._enable_3d = enable_3d
        right = QtWidgets.QWidget()
        right_layout = QtWidgets.QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self._mesh_note = QtWidgets.QLabel("3D view loading…" if enable_3d else "3D view off")
        self._mesh_note.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self._right_layout = right_layout
        right_layout.addWidget(self._mesh_note, 1)
        if enable_3d:
            # VTK after the first image is on its way to the model: importing pyvista and
            # starting VTK then overlaps the first prediction (start-up, issue 9)
            QtCore.QTimer.singleShot(0, self._build_mesh_view)
        right_layout.addWidget(self.pose_panel)
        self.legend = Legend()
        right_layout.addWidget(self.legend)
        splitter = QtWidgets.QSplitter()
        splitter.addWidget(self.image_view)
        splitter.addWidget(right)
        splitter.setSizes([760, 520])
        self.setCentralWidget(splitter)
        dock = QtWidgets.QDockWidget("Images", self)
        panel = QtWidgets.QWidget()
        panel_layout = QtWidgets.QVBoxLayout(panel)
        panel_layout.setContentsMargins(0, 0, 0, 0)
        panel_layout.addWidget(self.review_bar)
        panel_layout.addWidget(self.file_list, 1)
        dock.setWidget(panel)
        dock.setObjectName("images_dock")
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.status = self.statusBar()

        self.editing = GroupEditor(self)  # point drags, clicks, selection, group edits
        self.folder_watch = FolderWatcher(self)
        self.image_view.faceClicked.connect(self._on_face_clicked)
        self.image_view.boxDrawn.connect(self._on_box_drawn)
        self._build_actions()
        self.comfort.restore()  # settings kept by QSettings (gui/settings.py)

    # --- actions ----------------------------------------------------------------------------

    def add_action(
        self,
        menu: QtWidgets.QMenu,
        text: str,
        slot: Callable[[], None],
        shortcut: str | QtGui.QKeySequence | None = None,
        checkable: bool = False,
        checked: bool = False,
    ) -> QtGui.QAction:
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
        self.add_action(file_menu, "Open image…", self.open_image_dialog, QtGui.QKeySequence.Open)
        self.add_action(file_menu, "Open folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self.add_action(file_menu, "Open annotation…", self.open_annotation_dialog, "Ctrl+L")
        file_menu.addSeparator()
        self.add_action(file_menu, "Save annotation", self.save, QtGui.QKeySequence.Save)
        export = file_menu.addMenu("Export annotation as")
        for fmt in FORMATS:
            self.add_action(export, fmt, lambda checked=False, f=fmt: self.export(f))
        self.build_save_formats(file_menu)
        self.add_action(file_menu, "Save mesh…", self.save_mesh_dialog)
        self.add_action(file_menu, "Save screenshot…", self.save_screenshot_dialog)
        self.autosave_action = self.add_action(
            file_menu, "Autosave", self._toggle_autosave, checkable=True
        )
        file_menu.addSeparator()
        self.add_action(file_menu, "Quit", self.close, QtGui.QKeySequence.Quit)

        edit = bar.addMenu("&Edit")
        self.undo_action = self.add_action(edit, "Undo", self.undo, QtGui.QKeySequence.Undo)
        self.redo_action = self.add_action(edit, "Redo", self.redo, QtGui.QKeySequence.Redo)
        edit.addSeparator()
        self.add_action(edit, "Toggle visibility of the selected point", self.toggle_selected, "V")
        self.add_action(edit, "Reset the selected point", self.reset_selected_point, "R")
        self.add_action(edit, "Reset the face", self.reset_face, "Shift+R")
        self.add_action(
            edit, "Re-run stage 2 from the corrected points", self.rerun_stage2, "Ctrl+R"
        )
        self.add_face_action = self.add_action(
            edit, "Add a missed face (draw its box)", self.start_add_face, "A"
        )
        self.editing.build_menu(edit)

        view = bar.addMenu("&View")
        for key, text, shortcut in (
            ("lines", "iBUG-68 lines", "L"),
            ("box", "Face box", "B"),
            ("dense", "Dense vertices", "D"),
            ("stage1", "Stage-1 landmarks", "S"),
            ("reference", "Model prediction beside a loaded file", "G"),
        ):
            self.add_action(
                view,
                text,
                lambda checked=False, k=key: self._toggle_option(k),
                shortcut,
                checkable=True,
                checked=self.image_view.options[key],
            )
        if self._set_landmarks is not None:
            self.landmarks_action = self.add_action(
                view,
                "2D landmarks (jaw on the visible outline)",
                self.toggle_landmarks,
                "J",
                checkable=True,
                checked=self.landmarks == "2d",
            )
        self.add_action(view, "Fit image", self.image_view.fit, "F")
        self.comfort = Comfort(self, view)  # display panel, 3D panel on / off, settings
        if self._enable_3d:
            self.add_action(
                view, "Textured mesh", self._toggle_texture, "T", checkable=True, checked=True
            )
            self.add_action(
                view,
                "Reset 3D view",
                lambda: self.mesh_view is not None and self.mesh_view.reset_view(),
                "Ctrl+0",
            )
        self.build_review_menu(bar)
        self.live.build_menu(bar.addMenu("&Live"))
        go = bar.addMenu("&Go")
        self.add_action(go, "Next image", lambda: self.step(1), "PgDown")
        self.add_action(go, "Previous image", lambda: self.step(-1), "PgUp")
        help_menu = bar.addMenu("&Help")
        self.help_action = self.add_action(
            help_menu, "Keyboard and mouse…", self.show_help, QtGui.QKeySequence.HelpContents
        )
        self.update_actions()

    def _build_mesh_view(self) -> None:
        """Create the 3D view (once), in place of its placeholder, and show the face. Where
        it cannot be created (no OpenGL for VTK, a broken VTK install) the placeholder says why
        and everything else works without it."""
        if self.mesh_view is not None or not self._enable_3d:
            return
        try:
            from mtface.gui.mesh_view import MeshView

            self.mesh_view = MeshView(self.topology)
        except Exception as exc:  # noqa: BLE001 - any failure of VTK / GL set-up
            self._enable_3d = False
            self._mesh_note.setText(f"3D view unavailable: {exc}")
            self._mesh_note.setWordWrap(True)
            self.status.showMessage(f"3D view unavailable: {exc}", 10000)
            return
        self._right_layout.replaceWidget(self._mesh_note, self.mesh_view)
        self._mesh_note.deleteLater()
        self._right_layout.setStretchFactor(self.mesh_view, 1)
        if self.doc is not None:
            self._refresh()

    def show_help(self) -> QtWidgets.QDialog:
        return show_help(self)

    def escape(self) -> None:
        """Esc: cancel drawing a box, else clear the point selection, else stop live mode."""
        if not self.image_view.cancel_box_drawing() and not self.editing.clear_selection():
            self.live.stop()

    # --- opening ----------------------------------------------------------------------------

    def open_paths(self, paths: list[Path]) -> None:
        """Open files and folders (command line, menu, drag and drop)."""
        images = list_images([Path(p) for p in paths])
        if not images:
            self.status.showMessage("no images in " + ", ".join(map(str, paths)), 8000)
            return
        if not self.confirm_leave():
            return
        self.live.stop()
        self.folder = images
        self.folder_watch.watch(paths)  # the list follows files added or removed
        statuses = [scan_annotation(p) for p in images]  # ✓ only for readable files
        self.file_list.set_paths(images, statuses)
        self.index = -1
        self.scanner.stop()
        self._scan_pending = (images, statuses)  # starts once the first image is shown
        self._scan_generation = -1
        self._load(0)
        if self.worker is None:
            self._start_scan()

    def restart_scan(self, images: list[Path], statuses: list[ImageStatus]) -> None:
        """Scan a changed list again (the folder watcher); the open image is skipped."""
        self._scan_pending = (images, statuses)
        self._scan_generation = -1
        self._start_scan()

    def _start_scan(self) -> None:
        """The review scan, after the first image's prediction: it must not slow the first
        result down (both share the cores)."""
        pending, self._scan_pending = self._scan_pending, None
        if pending is not None and len(pending[0]) > 1:
            self._scan_generation = self.scanner.start(*pending, skip=self.index)

    def _on_scanned(self, generation: int, index: int, status: ImageStatus) -> None:
        if generation != self._scan_generation or index == self.index:
            return  # an older folder's scan, or the open image (its document knows better)
        self.file_list.update_status(
            index,
            annotation=status.annotation,
            confidence=status.confidence,
            reviewed=status.reviewed,
            flags=status.flags,
            faces=status.faces,
            image_error=status.image_error,
        )

    def _on_image_chosen(self, index: int) -> None:
        if index < 0 or index == self.index:
            return
        if not self.confirm_leave():
            self.file_list.restore()
            return
        self._load(index)

    def step(self, delta: int) -> None:
        """The next / previous image in the list's (review) order."""
        if self.folder:
            index = self.file_list.neighbour(delta)
            if index >= 0:
                self.file_list.select_index(index)

    def show_document(self, doc: ImageDocument) -> None:
        """Show a document made elsewhere (a live snapshot), added to the end of the list."""
        self.folder.append(doc.path)
        self.index = self.file_list.add_path(doc.path)
        self.file_list.current_index = self.index
        self.file_list.refresh()
        self.doc = doc
        doc.session.listeners.append(self._refresh)
        self.setWindowTitle(f"mtface studio — {doc.path.name}[*]")
        self.image_view.set_image(doc.image)
        self._refresh()

    def _load(self, index: int) -> None:
        self.live.stop()  # an image chosen during live mode ends it
        path = self.folder[index]
        self.index = index
        self.file_list.current_index = index
        self.file_list.select_index(index)
        self._request += 1  # a result still coming for the previous image is stale
        self.image_view.selected_point = None
        try:
            doc = ImageDocument.open(path)
        except ImageLoadError as exc:
            self.doc = None
            self.setWindowTitle(f"mtface studio — {path.name} (unreadable)")
            self.image_view.set_image(None)
            self.image_view.set_faces([], 0)
            self.pose_panel.show_pose(None)
            if self.mesh_view is not None:
                self.mesh_view.show_face(None, None)
            self.update_actions()
            self.file_list.update_status(index, image_error=True)
            self.status.showMessage(str(exc), 10000)
            QtWidgets.QMessageBox.warning(self, "Cannot open the image", str(exc))
            self._start_scan()
            return
        self.doc = doc
        doc.session.listeners.append(self._refresh)
        self.setWindowTitle(f"mtface studio — {path.name}[*]")
        self.image_view.set_image(doc.image)
        self._refresh()  # no face, pose or mesh of the previous image under a dialog
        if doc.annotation_error:
            QtWidgets.QMessageBox.warning(
                self,
                "Annotation not readable",
                f"{doc.annotation_error}\n\nThe file is left as it is until you save: saving "
                "moves it aside (…json.bad-<date>) and writes your work under its name.",
            )
        self._run_model()

    # --- drawing ----------------------------------------------------------------------------

    def _refresh(self, event: SessionEvent = EVERYTHING) -> None:
        """Show the session after a change; a change of points of the selected face only
        updates those points (and the mesh's visibility colours), not every view."""
        doc = self.doc
        if doc is None:
            return
        session = doc.session
        face = session.current()
        if event.kind == "points" and event.face == session.selected and face is not None:
            self.image_view.update_points(face, event.points)
            if self._mesh_shown() and face.face is not None and len(face.visible) == 68:
                self.mesh_view.show_face(face.face, doc.image, face.visible)  # colours only
            self._show_state()
            return
        self.image_view.set_faces(session.faces, session.selected, doc.reference_landmarks())
        self.pose_panel.show_pose(face.pose if face is not None else None)
        if self._mesh_shown():
            self.mesh_view.show_face(
                face.face if face is not None else None,
                doc.image,
                face.visible
                if face is not None and face.face is not None and len(face.visible) == 68
                else None,
            )
        self._show_state()

    def _mesh_shown(self) -> bool:
        """The 3D view exists and is not hidden (F3): a hidden one is updated when shown."""
        return self.mesh_view is not None and self.comfort.panel_3d_action.isChecked()

    def _show_state(self) -> None:
        """The image list's marks, the window's modified flag and the actions' states."""
        doc = self.doc
        if doc is None:
            return
        session = doc.session
        if 0 <= self.index < len(self.folder) and self.folder[self.index] == doc.path:
            self.file_list.update_status(self.index, **self.document_status())
        self.update_review_actions()
        self.setWindowModified(session.dirty)
        self.update_actions()

    def update_actions(self) -> None:
        session = self.doc.session if self.doc is not None else None
        self.undo_action.setEnabled(bool(session and session.can_undo))
        self.redo_action.setEnabled(bool(session and session.can_redo))
        self.undo_action.setText(
            "Undo " + session.undo_text if session and session.can_undo else "Undo"
        )
        self.redo_action.setText(
            "Redo " + session.redo_text if session and session.can_redo else "Redo"
        )

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
        """R: the selected point (only with one selected) back to the model's; it says so."""
        point = self.image_view.selected_point
        if self.doc is None or self.doc.session.current() is None or point is None:
            self.status.showMessage("R resets the selected point: select a point first", 6000)
            return
        self.doc.session.reset_point(point)
        self.status.showMessage(
            f"point {point + 1} reset to the model's prediction (Ctrl+Z undoes)", 8000
        )

    def rerun_stage2(self) -> None:
        """Stage 2 again, with MSIF taken around the human's landmarks."""
        doc = self.doc
        face = doc.session.current() if doc is not None else None
        if self._stage2_refine is None or face is None or len(face.landmarks) != 68:
            self.status.showMessage("re-running stage 2 needs the model and a 68-point face", 6000)
            return
        new_face = self._stage2_refine(doc.image, face.landmarks, face.visible, face.box)
        doc.session.replace_prediction(doc.session.selected, new_face)
