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
    predict = refine = live_predictor = None
    error = None
    if predictor_factory is not None:
        try:
            predictor = predictor_factory()
            predict = predictor.predict  # type: ignore[attr-defined]
            refine = getattr(predictor, "refine_from_landmarks", None)
            live_predictor = predictor if hasattr(predictor, "crop_from_landmarks") else None
        except WeightsError as exc:
            error = str(exc)
    if enable_3d is None:
        enable_3d = _display_available() and os.environ.get("QT_QPA_PLATFORM") != "offscreen"
    window = MainWindow(predict, topology, enable_3d=enable_3d, stage2_refine=refine,
                        live_predictor=live_predictor)
    if error:
        window.status.showMessage(f"no model: {error} (annotation only)", 20000)
        QtWidgets.QMessageBox.warning(window, "No model", f"{error}\n\nThe studio opens for "
                                      "annotation only.")
    window.open_paths(paths or [resource_path("samples", "astronaut.jpg")])
    return window


def _shutdown(app: QtWidgets.QApplication, window: MainWindow) -> None:
    """Delete the window's Qt objects while Python is still fully alive: letting the garbage
    collector meet them during interpreter finalisation aborts PySide6 6.12."""
    import gc  # noqa: PLC0415

    window.deleteLater()
    app.processEvents()
    del window
    gc.collect()


def live_main(source: str, benchmark: bool = False, smoothing: bool = True,
              record: Path | None = None) -> int:
    """``mtface live``: the studio in live mode on a camera index or a video file. With
    ``benchmark`` every frame of the file goes through the whole live path (display included;
    offscreen allowed) and the figures are printed at the end."""
    if sys.platform == "linux" and not _display_available() and \
            os.environ.get("QT_QPA_PLATFORM") is None:
        if not benchmark:
            print("error: no display found; use --benchmark (offscreen) or a desktop",
                  file=sys.stderr)
            return 2
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["mtface"])
    window = create_window([resource_path("samples", "astronaut.jpg")])
    window.show()
    live = window.live
    live.smoother.configure(live.smoother.min_cutoff, live.smoother.beta, smoothing)
    live.smooth_action.setChecked(smoothing)
    live.record_path = record
    result = {"code": 0}
    if benchmark:
        def done(summary: str) -> None:
            print(f"mtface live benchmark: {source}\n{summary}", flush=True)
            window.close()
        live.finished.connect(done)
    if not live.start(source, realtime=not benchmark):
        result["code"] = 2
        window.close()
        return 2
    app.exec()
    _shutdown(app, window)
    return result["code"]


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
    code = app.exec()
    _shutdown(app, window)
    return code
