"""GUI fixtures: a fake predictor (weights do not matter here) and the studio factory.

Widgets run with QT_QPA_PLATFORM=offscreen unless a display exists; the VTK view needs a real
(virtual) X display, so tests marked ``vtk`` skip without one (.ci/run provides Xvfb)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import numpy as np
import pytest

from mtface.core.geometry import landmark_visibility
from mtface.core.types import Face, FaceBox, Pose, Prediction, StageOutput, Timings


class FakePredictor:
    """Puts the template face in the middle of any image; counts its calls."""

    def __init__(self, topology) -> None:
        self.topology = topology
        self.calls = 0

    def _face(self, image: np.ndarray) -> Face:
        h, w = image.shape[:2]
        t = self.topology
        scale = 0.35 * min(h, w) / np.ptp(t.vertices[:, 0])
        verts = (t.vertices - t.vertices.mean(0)) * scale + np.array([w / 2, h / 2, 0.0])
        lm = t.landmarks_from_vertices(verts).astype(np.float32)
        vis = landmark_visibility(verts, t.triangles, t.landmark_triangles, t.landmark_barycentric)
        vis[0] = False  # one invisible point, for the colours
        x0, y0 = lm[:, :2].min(0)
        x1, y1 = lm[:, :2].max(0)
        pose = Pose(2.0, 35.0, -1.0)
        stage = StageOutput(verts.astype(np.float32), lm, vis, pose)
        return Face(
            FaceBox(float(x0), float(y0), float(x1), float(y1), 0.99),
            verts.astype(np.float32),
            lm,
            vis,
            pose,
            (stage, stage),
        )

    def predict(self, image: np.ndarray, boxes=None) -> Prediction:
        self.calls += 1
        return Prediction([self._face(image)], image.shape[:2], Timings(1.0, (2.0,), 0.1, 3.1))

    def refine_from_landmarks(self, image, landmarks, visible, box) -> Face:
        face = self._face(image)
        lm = face.landmarks.copy()
        lm[:, :2] = landmarks + 1.0
        return Face(face.box, face.vertices, lm, np.asarray(visible, bool), face.pose, face.stages)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory):
    """Every GUI test reads and writes the studio's QSettings (gui/settings.py) in a folder of
    its own: nothing leaks between tests or into the user's settings."""
    from PySide6 import QtCore

    folder = tmp_path_factory.mktemp("settings")
    QtCore.QSettings.setPath(
        QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, str(folder)
    )
    return folder


def display_available() -> bool:
    return bool(os.environ.get("DISPLAY")) and os.environ.get("QT_QPA_PLATFORM") != "offscreen"


@pytest.fixture()
def make_studio(qtbot, topology, monkeypatch):
    """Factory: make_studio(paths, enable_3d=False, predictor=...) -> the real MainWindow,
    built by the same create_window() that main() uses, shown and waited on."""
    from PySide6 import QtWidgets

    from mtface.gui.app import create_window

    # dialogs would block a test: record them instead
    shown: list[tuple[str, str]] = []
    for kind in ("warning", "critical", "information"):
        monkeypatch.setattr(
            QtWidgets.QMessageBox,
            kind,
            lambda *a, _k=kind, **kw: (
                shown.append((_k, a[2] if len(a) > 2 else ""))
                or QtWidgets.QMessageBox.StandardButton.Ok
            ),
        )
    windows = []

    def factory(paths=None, enable_3d=False, predictor="fake", wait=True):
        fake = FakePredictor(topology)
        factory_fn = (lambda: fake) if predictor == "fake" else predictor
        window = create_window(paths, predictor_factory=factory_fn, enable_3d=enable_3d)
        window.fake = fake
        window.dialogs = shown
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        window.raise_()
        window.image_view.setFocus()
        windows.append(window)
        if wait and predictor is not None:
            qtbot.waitUntil(
                lambda: window.doc is not None and window.doc.prediction is not None, timeout=10000
            )
        return window

    yield factory
    for w in windows:
        if w.doc is not None:
            w.doc.session.mark_saved()  # no prompt on teardown
        w.close()


def sample_folder(tmp_path: Path, **variants: Callable[[np.ndarray], np.ndarray]) -> Path:
    """``tmp_path/imgs`` holding a.jpg (the bundled 512x512 sample) and, per keyword, NAME.jpg
    made from the sample's BGR pixels by the given function (flipped, darker, ...)."""
    import cv2

    from mtface.core.resources import resource_path

    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(resource_path("samples", "astronaut.jpg"), folder / "a.jpg")
    image = cv2.imread(str(folder / "a.jpg"))
    for name, make in variants.items():
        cv2.imwrite(str(folder / f"{name}.jpg"), make(image))
    return folder
