"""``mtface`` (or ``mtface studio [PATHS]``): the desktop studio.

With no paths it opens the bundled sample image, already reconstructed. ``create_window`` builds
the window the same way for the tests (which pass a fake predictor)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYVISTA_OFF_SCREEN", "false")

import torch  # noqa: E402,F401 - torch before the QApplication (DESIGN.md)
from PySide6 import QtWidgets  # noqa: E402

from mtface.core.resources import resource_path  # noqa: E402
from mtface.core.topology import Topology  # noqa: E402
from mtface.core.weights import WeightsError  # noqa: E402
from mtface.gui.main_window import MainWindow  # noqa: E402

PredictorFactory = Callable[[], object]


def default_predictor_factory() -> object:
    from mtface.core.predictor import Predictor  # noqa: PLC0415

    return Predictor.from_weights()


def _display_available() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def create_window(paths: list[Path] | None = None,
                  predictor_factory: PredictorFactory | None = default_predictor_factory,
                  enable_3d: bool | None = None) -> MainWindow:
    """Build the studio window (a QApplication must exist) and open ``paths`` (default: the
    bundled sample). The 3D view needs a real or virtual X display; without one it is off."""
    topology = Topology.load()
    predict = refine = None
    error = None
    if predictor_factory is not None:
        try:
            predictor = predictor_factory()
            predict = predictor.predict  # type: ignore[attr-defined]
            refine = getattr(predictor, "refine_from_landmarks", None)
        except WeightsError as exc:
            error = str(exc)
    if enable_3d is None:
        enable_3d = _display_available() and os.environ.get("QT_QPA_PLATFORM") != "offscreen"
    window = MainWindow(predict, topology, enable_3d=enable_3d, stage2_refine=refine)
    if error:
        window.status.showMessage(f"no model: {error} (annotation only)", 20000)
        QtWidgets.QMessageBox.warning(window, "No model", f"{error}\n\nThe studio opens for "
                                      "annotation only.")
    window.open_paths(paths or [resource_path("samples", "astronaut.jpg")])
    return window


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    profile = "--profile-startup" in argv
    if profile:
        argv.remove("--profile-startup")
    start = time.perf_counter()
    if sys.platform == "linux" and not _display_available() and \
            os.environ.get("QT_QPA_PLATFORM") is None:
        print("error: no display found (DISPLAY is not set). Run mtface on a desktop, under "
              "xvfb-run, or use the command line: mtface predict IMAGE --out DIR",
              file=sys.stderr)
        return 2
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["mtface"])
    window = create_window([Path(p) for p in argv])
    window.show()
    if profile:
        def report() -> None:
            print(f"startup: from launch to a reconstructed sample on screen "
                  f"{time.perf_counter() - start:.2f} s", flush=True)
        window.predictionShown.connect(report)
    return app.exec()
