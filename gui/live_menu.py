"""The studio's Live menu: start a camera or a video, pause, step, snapshot into the editor,
smoothing on/off and its two One-Euro parameters, recording to CSV."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
from PySide6 import QtCore, QtWidgets

from mtface.core.annotation.document import ImageDocument
from mtface.core.annotation.face import FaceAnnotation
from mtface.core.formats.atomic import SaveError, atomic_write_bytes
from mtface.core.types import Prediction
from mtface.core.video.sources import Frame, FrameSource, SourceError
from mtface.core.video.tracking import FaceSmoother, FaceTracker
from mtface.gui.live_threads import LiveController

if TYPE_CHECKING:
    from mtface.gui.main_window import MainWindow


class LiveMode(QtCore.QObject):
    finished = QtCore.Signal(str)

    def __init__(self, window: MainWindow, predictor: object | None) -> None:
        super().__init__(window)
        self.window = window
        self.predictor = predictor
        self.controller: LiveController | None = None
        self.smoother = FaceSmoother()
        self.last: tuple[Frame, Prediction] | None = None
        self.record_path: Path | None = None
        self._first = True
        self._last_3d = 0.0
        self.mesh_interval_s = 1.0 / 15.0
        self._mesh_cost_s = 0.0  # running mean of one 3D update
        self.snapshot_dir = Path.home() / "mtface-snapshots"  # the dialog's last resort
        self._last_snapshot_folder: Path | None = None
        self.headless = False  # benchmark / offscreen: messages go to stderr, never a dialog
        self.failed = False  # the last run stopped on an error
        self.inference_threads: int | None = None  # None: cores - 1 (1 on a 2-core machine)
        self._threads_before: tuple[int, int] | None = None
        self._threads_note = ""

    def _warn(self, message: str) -> None:
        self.window.status.showMessage(message, 10000)
        if self.headless:
            print(f"error: {message}", file=sys.stderr, flush=True)
        else:
            QtWidgets.QMessageBox.warning(self.window, "Live mode", message)

    def build_menu(self, menu: QtWidgets.QMenu) -> None:
        w = self.window
        w.add_action(menu, "Start camera…", self.start_camera_dialog, "Ctrl+Shift+C")
        w.add_action(menu, "Play video file…", self.open_video_dialog, "Ctrl+Shift+V")
        self.pause_action = w.add_action(menu, "Pause", self.toggle_pause, "Space", checkable=True)
        self.step_action = w.add_action(menu, "Step one frame", self.step, ".")
        w.add_action(menu, "Snapshot to the editor", self.snapshot, "Ctrl+Shift+S")
        w.add_action(menu, "Stop (or cancel drawing a box)", w.escape, "Escape")
        menu.addSeparator()
        self.smooth_action = w.add_action(
            menu, "Smoothing (One-Euro)", self._toggle_smoothing, checkable=True, checked=True
        )
        w.add_action(menu, "Smoothing parameters…", self.smoothing_dialog)
        self.record_action = w.add_action(
            menu, "Record landmarks to CSV…", self.record_dialog, checkable=True
        )

    # --- starting and stopping --------------------------------------------------------------

    def start(self, spec: str | int, realtime: bool = True) -> bool:
        """Start a camera (index) or a video file; a clear message when it cannot open."""
        if self.predictor is None:
            self._warn("Live mode needs the model.")
            return False
        if not self.window.confirm_leave():
            return False
        self.stop()
        try:
            source = FrameSource(spec)
        except SourceError as exc:
            self._warn(str(exc))
            return False
        tracker = FaceTracker(self.predictor, self.smoother)
        self._set_threads()
        self.controller = LiveController(tracker, source, realtime, self.record_path)
        self.controller.stats.threads = self._threads_note
        self.controller.frameReady.connect(self._on_frame)
        self.controller.stopped.connect(self._on_stopped)
        self._first = True
        self._show_live_source(spec)
        self.controller.start()
        return True

    def _show_live_source(self, spec: str | int) -> None:
        """The window names the live source, not the still image shown before; the folder's
        images stay listed below it (click one to go back to it)."""
        w = self.window
        name = f"camera {spec}" if str(spec).isdigit() else Path(str(spec)).name
        w.scanner.stop()  # the cores go to live mode
        w.doc = None
        w.index = -1
        w.file_list.show_live(f"● live: {name}")
        w.setWindowTitle(f"mtface studio — live: {name}")
        w.setWindowModified(False)
        w.image_view.set_faces([], 0)
        w.pose_panel.show_pose(None)
        if w.mesh_view is not None:
            w.mesh_view.show_face(None, None)
        w.update_actions()

    def _set_threads(self) -> None:
        """Live threads on few cores: the model runs on ``inference_threads`` (1 when the
        machine has at most 2 cores), OpenCV's decoding and colour conversion on one, so the
        reader (decoding the next frame) and the GUI (drawing the last) keep the other core
        instead of fighting torch's worker threads for it. Restored when live mode stops."""
        import os

        import torch

        cores = os.cpu_count() or 1
        wanted = self.inference_threads or max(1, min(4, cores - 1))
        self._threads_before = (torch.get_num_threads(), cv2.getNumThreads())
        torch.set_num_threads(wanted)
        cv2.setNumThreads(1)
        self._threads_note = (
            f"torch {wanted} (of {cores} cores), OpenCV 1, reader + GUI on their own threads"
        )

    def _restore_threads(self) -> None:
        if self._threads_before is not None:
            import torch

            torch.set_num_threads(self._threads_before[0])
            cv2.setNumThreads(self._threads_before[1])
            self._threads_before = None

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
            self._restore_threads()
            if self.window.mesh_view is not None:
                self.window.mesh_view.end_live()
            self.window.file_list.show_live(None)

    def _on_stopped(self, reason: str) -> None:
        self.failed = bool(reason)
        msg = reason or "the video ended"
        self.window.status.showMessage(f"live stopped: {msg}", 10000)
        if reason:
            self._warn(reason)
        stats = ""
        if self.controller is not None:
            tracker = self.controller.tracker
            stats = (
                self.controller.stats.summary()
                + f"\ntracker: {tracker.changes} face/scene changes noticed, detector ran "
                f"{tracker.detections} times"
            )
        self.stop()
        self.finished.emit(stats)

    # --- frames -----------------------------------------------------------------------------

    def _on_frame(self, frame: Frame, prediction: Prediction) -> None:
        controller = self.controller
        if controller is None:
            return
        view = self.window.image_view
        if self._first:
            view.set_image(frame.image)
            self._first = False
        else:
            view.image_item.setImage(frame.image, autoLevels=False, levels=view.display_levels())
        faces = [FaceAnnotation.from_face(f) for f in prediction.faces]
        view.set_faces(faces, 0)
        face = prediction.faces[0] if prediction.faces else None
        self.window.pose_panel.show_pose(face.pose if face is not None else None)
        now = time.perf_counter()
        if (
            self.window.mesh_view is not None
            and face is not None
            and now - self._last_3d >= max(self.mesh_interval_s, 3.0 * self._mesh_cost_s)
        ):
            # the 3D view follows at up to 1 / mesh_interval_s Hz, and takes at most about a
            # quarter of the GUI thread: with software GL a render can cost more than the 2D
            # view and the cascade together, and the 2D view must keep every frame it can
            self.window.mesh_view.show_live(face)
            done = time.perf_counter()
            self._mesh_cost_s = 0.8 * self._mesh_cost_s + 0.2 * (done - now)
            controller.stats.mesh_ms.append((done - now) * 1e3)
            self._last_3d = done
        self.last = (frame, prediction)
        t = prediction.timings
        controller.mark_drawn(frame, prediction)
        stats = controller.stats
        self.window.status.showMessage(
            f"live{' · paused (Space resumes, . steps)' if controller.paused else ''} · "
            f"{stats.fps:.1f} fps · {len(prediction.faces)} face(s) · detector "
            f"{t.detect_ms:.1f} ms · cascade {sum(t.stage_ms):.1f} ms · latency "
            f"{stats.latencies_ms[-1]:.0f} ms"
        )

    # --- user actions -----------------------------------------------------------------------

    def toggle_pause(self) -> None:
        if self.controller is not None:
            self.controller.pause(not self.controller.paused)
            self.pause_action.setChecked(self.controller.paused)
            self.window.status.showMessage(
                "live · paused (Space resumes, . steps one frame)"
                if self.controller.paused
                else "live · playing"
            )

    def step(self) -> None:
        if self.controller is not None:
            self.controller.step()
            self.pause_action.setChecked(True)

    def snapshot_folder(self) -> Path:
        """Where the snapshot dialog starts: the last folder chosen, else the open folder's,
        else ``snapshot_dir``."""
        if self._last_snapshot_folder is not None:
            return self._last_snapshot_folder
        folder = self.window.folder
        return folder[0].parent if folder else self.snapshot_dir

    def snapshot(self, path: Path | None = None) -> ImageDocument | None:
        """Send the current frame and its prediction to the annotation editor (live stops;
        the frame is saved as a PNG, where the person chooses, so that its annotation has an
        image beside it). It joins the end of the image list; the folder's images stay."""
        if self.last is None:
            return None
        frame, prediction = self.last
        self.stop()
        if path is None:
            suggested = self.snapshot_folder() / time.strftime(
                f"live_%Y%m%d_%H%M%S_{frame.index:05d}.png"
            )
            name, _ = QtWidgets.QFileDialog.getSaveFileName(
                self.window, "Save the snapshot as", str(suggested), "PNG (*.png)"
            )
            if not name:
                self.window.status.showMessage("snapshot not taken", 6000)
                return None
            path = Path(name)
        path = Path(path)
        self._last_snapshot_folder = path.parent
        ok, data = cv2.imencode(".png", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        try:
            atomic_write_bytes(path, data.tobytes())
        except SaveError as exc:
            QtWidgets.QMessageBox.critical(self.window, "Snapshot not saved", str(exc))
            return None
        doc = ImageDocument(path, frame.image)
        doc.apply_prediction(prediction)
        self.window.show_document(doc)
        self.window.status.showMessage(f"snapshot saved as {path}: correct it and save", 15000)
        return doc

    def _toggle_smoothing(self) -> None:
        self.smoother.configure(
            self.smoother.min_cutoff, self.smoother.beta, self.smooth_action.isChecked()
        )

    def smoothing_dialog(self) -> None:
        cutoff, ok = QtWidgets.QInputDialog.getDouble(
            self.window,
            "One-Euro smoothing",
            "Minimum cut-off (Hz, lower = smoother):",
            self.smoother.min_cutoff,
            0.01,
            30.0,
            2,
        )
        if not ok:
            return
        beta, ok = QtWidgets.QInputDialog.getDouble(
            self.window,
            "One-Euro smoothing",
            "Beta (higher = less lag in fast motion):",
            self.smoother.beta,
            0.0,
            10.0,
            3,
        )
        if ok:
            self.smoother.configure(cutoff, beta, self.smooth_action.isChecked())

    def start_camera_dialog(self) -> None:
        index, ok = QtWidgets.QInputDialog.getInt(self.window, "Camera", "Device index:", 0, 0, 63)
        if ok:
            self.start(index)

    def open_video_dialog(self) -> None:
        name, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Play video", "", "Videos (*.mp4 *.avi *.mov *.mkv *.webm)"
        )
        if name:
            self.start(name)

    def record_dialog(self) -> None:
        if not self.record_action.isChecked():
            self.record_path = None
            return
        name, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Record landmarks", "landmarks.csv", "CSV (*.csv)"
        )
        self.record_path = Path(name) if name else None
        self.record_action.setChecked(self.record_path is not None)
        if self.record_path is not None:
            self.window.status.showMessage("recording starts with the next live session", 6000)
