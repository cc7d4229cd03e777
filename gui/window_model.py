"""The studio window's model side: predictions in the worker thread with each face's confidence,
the lowest confidence for the image list's scanner, the landmark definition switch (J), another
model (File > Load model…), and a face added from a box the user draws (A). A mixin of
MainWindow (gui/main_window.py), split off to keep each module small; it only shows and
forwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from PySide6 import QtWidgets

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.confidence import face_confidence
from mtface.core.types import FaceBox, Prediction
from mtface.gui.workers import InferenceWorker

Predict = Callable[..., Prediction]
Score = Callable[[np.ndarray, Prediction], list[float]]


class WindowModel:
    """Mixin: needs ``doc``, ``status``, ``landmarks``, ``landmarks_action``, ``live``,
    ``image_view``, ``predictionShown``, ``_predict``, ``_score``, ``_busy``, ``_request``,
    ``_refresh``, ``_build_mesh_view``, ``take_prediction``, ``_start_scan`` and
    ``_maybe_autosave`` from MainWindow."""

    def _predict_scored(
        self, image: np.ndarray, *boxes: list[FaceBox]
    ) -> tuple[Prediction, list[float] | None]:
        """The prediction (in ``boxes`` when given: faces a person drew) and each face's
        confidence; in the worker thread, or on the GUI thread for a drawn box."""
        with self._busy:
            prediction = self._predict(image, *boxes)
            scores = self._score(image, prediction) if self._score is not None else None
        return prediction, scores

    def _lowest_confidence(self, image: np.ndarray) -> tuple[float | None, int]:
        """In the scanner thread: the lowest face confidence of an image (None: no face) and
        how many faces it has."""
        prediction = self._predict(image)
        if self._score is not None:
            values = self._score(image, prediction)
        else:
            values = [face_confidence(f) for f in prediction.faces]
        values = [v for v in values if v is not None]
        return (min(values) if values else None), len(prediction.faces)

    def toggle_landmarks(self) -> None:
        """Switch the landmark definition (3d points fixed to the head / 2d outline) and predict the
        image again; edits and loaded annotations are kept (the prediction is then only the
        reference beside them)."""
        if self._set_landmarks is None:
            return
        wanted = "3d" if self.landmarks == "2d" else "2d"
        try:
            self._set_landmarks(wanted)
        except RuntimeError as exc:  # e.g. an unreadable 2D refiner beside the weights
            self.landmarks_action.setChecked(self.landmarks == "2d")
            QtWidgets.QMessageBox.warning(self, "Landmark definition", str(exc))
            return
        self.landmarks = wanted
        self.landmarks_action.setChecked(self.landmarks == "2d")
        self._adopt_definition = wanted  # faces with points take it, edited points stay
        self._run_model()

    def use_predictor(
        self,
        predict: Predict,
        stage2_refine: Callable[..., object] | None,
        set_landmarks: Callable[[str], None] | None,
        live_predictor: object | None,
    ) -> None:
        """Predict with another model from now on (File > Load model…, gui/model_switch.py)."""
        self._predict, self._stage2_refine = predict, stage2_refine
        self._set_landmarks = set_landmarks
        self.live.predictor = live_predictor
        if self.worker is None:  # the window had opened without a model
            self.worker = InferenceWorker(self._predict_scored)
            self.worker.finished.connect(self._on_prediction)
            self.worker.failed.connect(self._on_failure)

    def _run_model(self) -> None:
        if self.worker is None or self.doc is None:
            return
        self._request += 1
        self._requested_at = time.perf_counter()
        self.status.showMessage(f"reconstructing {self.doc.path.name}…")
        self.worker.submit(self._request, self.doc.image)

    def _on_prediction(
        self, request_id: int, result: tuple[Prediction, list[float] | None]
    ) -> None:
        if request_id != self._request or self.doc is None:
            return  # a stale result for an image no longer shown
        prediction, scores = result
        self._build_mesh_view()  # normally built already, while the model ran
        note = self.take_prediction(prediction, scores)  # gui/window_review.py
        t = prediction.timings
        wall = (time.perf_counter() - self._requested_at) * 1e3
        found = len(prediction.faces)
        self.status.showMessage(
            f"{found} face(s) · detector {t.detect_ms:.1f} ms · cascade "
            f"{sum(t.stage_ms):.1f} ms · post {t.post_ms:.1f} ms · total {t.total_ms:.1f} ms "
            f"(shown after {wall:.0f} ms)"
            + ("" if found else " · no face found: press A and draw a box to add one")
            + note
        )
        self._refresh()
        self.predictionShown.emit()
        self._start_scan()

    def _on_failure(self, request_id: int, message: str) -> None:
        if request_id == self._request:
            self.status.showMessage(f"reconstruction failed: {message}", 15000)
            self._start_scan()

    def start_add_face(self) -> None:
        """Draw a box on the image; the model predicts the face in it (a face the detector
        missed)."""
        if self.doc is None or self._predict is None:
            self.status.showMessage("adding a face needs an image and the model", 6000)
            return
        self.image_view.start_box_drawing()
        self.status.showMessage("drag a box around the face (Esc cancels)", 10000)

    def _on_box_drawn(self, x0: float, y0: float, x1: float, y1: float) -> None:
        doc = self.doc
        if doc is None or self._predict is None:
            return
        h, w = doc.image_size
        x0, x1 = sorted((max(0.0, x0), min(float(w - 1), x1)))
        y0, y1 = sorted((max(0.0, y0), min(float(h - 1), y1)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            self.status.showMessage("the box is too small: drag a box around the face", 6000)
            return
        prediction, scores = self._predict_scored(doc.image, [FaceBox(x0, y0, x1, y1, 1.0)])
        if not prediction.faces:
            self.status.showMessage("no face predicted in that box", 6000)
            return
        face = FaceAnnotation.from_face(prediction.faces[0], source="box")
        face.drawn_by_person = True
        if scores:
            face.confidence = scores[0]
        doc.session.add_face(face)
        self.status.showMessage(f"face {len(doc.session.faces)} added from your box", 6000)
        self._maybe_autosave()
