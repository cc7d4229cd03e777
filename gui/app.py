"""``mtface`` (or ``mtface studio [PATHS]``): the desktop studio.

With no paths it opens the bundled sample image, already reconstructed. ``create_window`` builds
the window the same way for the tests (which pass a fake predictor)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYVISTA_OFF_SCREEN", "false")


def _preload_3d() -> None:
    """Import VTK / pyvista (about 1 s) in a background thread while the main
    thread imports torch and Qt: measured here 2.0 s for both together against 2.6 s one
    after the other. The 3D view's own import then finds them loaded (or waits on Python's
    import lock). Only with a display, where the 3D view will be built."""
    try:
        import pyvista.plotting  # noqa: F401 - `import pyvista` alone defers the rendering part
    except Exception:  # noqa: BLE001 - the 3D view reports its own import errors later
        pass


if (
    (sys.platform != "linux" or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    and os.environ.get("QT_QPA_PLATFORM") != "offscreen"
    and not os.environ.get("MTFACE_NO_PRELOAD")
):
    threading.Thread(target=_preload_3d, name="mtface-preload-3d", daemon=True).start()

import torch  # noqa: E402 - torch is imported before the QApplication exists
from PySide6 import QtWidgets  # noqa: E402

from mtface.core.resources import resource_path  # noqa: E402
from mtface.core.topology import Topology  # noqa: E402
from mtface.core.weights import WeightsError  # noqa: E402
from mtface.gui import settings  # noqa: E402
from mtface.gui.main_window import MainWindow  # noqa: E402
from mtface.gui.model_switch import ModelSwitch  # noqa: E402

PredictorFactory = Callable[[], object]
IMPORTED_AT = time.time()  # wall clock when the studio's imports were done


def process_start_time() -> float | None:
    """Wall-clock time (time.time()) at which this process started, before the interpreter
    and any import: from /proc on Linux, psutil elsewhere when installed; None otherwise."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return time.time() - uptime + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        try:
            import psutil

            return float(psutil.Process().create_time())
        except Exception:  # noqa: BLE001 - no way to know: the caller falls back
            return None


def default_predictor_factory(weights: Path | None = None) -> object:
    """The studio's predictor: the model file ``weights`` (default: the shipped model)."""
    from mtface.core.predictor import Predictor

    return Predictor.from_weights(weights)


def preloaded_factory(weights: Path | None) -> PredictorFactory:
    """``--weights``: the model read now, so that an unusable file is one error on the command
    line (WeightsError) before any window opens; None: the shipped model, read by the
    window."""
    if weights is None:
        return default_predictor_factory
    predictor = default_predictor_factory(weights)
    return lambda: predictor


def _landmark_switch(predictor: object) -> Callable[[str], None] | None:
    """A setter of the predictor's landmark definition ('3d' / '2d'), when it has one."""
    if not hasattr(predictor, "landmarks"):
        return None

    def switch(convention: str) -> None:
        predictor.landmarks = convention  # type: ignore[attr-defined]

    return switch


def configure_threads() -> str:
    """Thread counts for the studio on few cores: torch gets cores - 1 (1 on a 2-core
    machine), OpenCV 1, so the GUI thread keeps a core for drawing. On a busy 2-core machine
    two torch threads wait on each other at every op (measured here with a training job
    running: one still-image predict 20 ms with 1 thread, 980 ms with 2)."""
    cores = os.cpu_count() or 1
    threads = max(1, min(4, cores - 1))
    torch.set_num_threads(threads)
    import cv2

    cv2.setNumThreads(1)
    return f"torch {threads} thread(s) of {cores} cores, OpenCV 1"


def _display_available() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def create_window(
    paths: list[Path] | None = None,
    predictor_factory: PredictorFactory | None = default_predictor_factory,
    enable_3d: bool | None = None,
    landmarks: str | None = None,
) -> MainWindow:
    """Build the studio window (a QApplication must exist) and open ``paths`` (default: the
    bundled sample). The 3D view needs a real or virtual X display; without one it is off.
    ``landmarks``: the landmark definition shown first ('3d' points fixed to the head, '2d'
    outline); None: the one used last (gui/settings.py), '3d' the first time."""
    if landmarks is None:
        landmarks = settings.read("landmarks", "3d")
        landmarks = landmarks if landmarks in ("3d", "2d") else "3d"
    topology = Topology.load()
    predict = refine = live_predictor = score = switch = None
    error = None
    loaded: object | None = None
    if predictor_factory is not None:
        try:
            predictor = loaded = predictor_factory()
            predict = predictor.predict  # type: ignore[attr-defined]
            refine = getattr(predictor, "refine_from_landmarks", None)
            live_predictor = predictor if hasattr(predictor, "crop_from_landmarks") else None
            score = None  # faces carry the predictor's confidence (Face.confidence)
            switch = _landmark_switch(predictor)
            if switch is not None:
                switch(landmarks)
        except WeightsError as exc:
            error = str(exc)
    if enable_3d is None:
        enable_3d = _display_available() and os.environ.get("QT_QPA_PLATFORM") != "offscreen"
    window = MainWindow(
        predict,
        topology,
        enable_3d=enable_3d,
        stage2_refine=refine,
        live_predictor=live_predictor,
        score=score,
        set_landmarks=switch,
        landmarks=landmarks,
    )
    window.model_switch = ModelSwitch(window, None if error else loaded)
    if error:
        window.status.showMessage(f"no model: {error} (annotation only)", 20000)
        QtWidgets.QMessageBox.warning(
            window, "No model", f"{error}\n\nThe studio opens for annotation only."
        )
    window.open_paths(paths or [resource_path("samples", "astronaut.jpg")])
    return window


def _shutdown(app: QtWidgets.QApplication, window: MainWindow) -> None:
    """Delete the window's Qt objects while Python is still fully alive: letting the garbage
    collector meet them during interpreter finalisation aborts PySide6 6.12."""
    import gc

    window.deleteLater()
    app.processEvents()
    del window
    gc.collect()


def live_main(
    source: str,
    benchmark: bool = False,
    smoothing: bool = True,
    record: Path | None = None,
    weights: Path | None = None,
) -> int:
    """``mtface live``: the studio in live mode on a camera index or a video file, with the
    model file ``weights`` (default: the shipped model). With ``benchmark`` every frame of the
    file goes through the whole live path (display included; offscreen allowed) and the
    figures are printed at the end."""
    try:
        factory = preloaded_factory(weights)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if (
        sys.platform == "linux"
        and not _display_available()
        and os.environ.get("QT_QPA_PLATFORM") is None
    ):
        if not benchmark:
            print(
                "error: no display found; use --benchmark (offscreen) or a desktop", file=sys.stderr
            )
            return 2
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if benchmark:  # a clear error and a non-zero status, never a dialog nobody can close
        from mtface.core.video.sources import FrameSource, SourceError

        try:
            FrameSource(source).release()
        except SourceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    configure_threads()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["mtface"])
    window = create_window([resource_path("samples", "astronaut.jpg")], predictor_factory=factory)
    window.show()
    live = window.live
    live.headless = benchmark
    live.smoother.configure(live.smoother.min_cutoff, live.smoother.beta, smoothing)
    live.smooth_action.setChecked(smoothing)
    live.record_path = record
    result = {"code": 0}
    if benchmark:

        def done(summary: str) -> None:
            print(f"mtface live benchmark: {source}\n{summary}", flush=True)
            if live.failed:
                result["code"] = 1
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
    landmarks = None  # the one used last
    for flag in [a for a in argv if a.startswith("--landmarks=")]:
        landmarks = flag.split("=", 1)[1]
        argv.remove(flag)
    weights = None
    for flag in [a for a in argv if a.startswith("--weights=")]:
        weights = Path(flag.split("=", 1)[1])
        argv.remove(flag)
    try:
        factory = preloaded_factory(weights)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = process_start_time() or IMPORTED_AT
    if (
        sys.platform == "linux"
        and not _display_available()
        and os.environ.get("QT_QPA_PLATFORM") is None
    ):
        print(
            "error: no display found (DISPLAY is not set). Run mtface on a desktop, under "
            "xvfb-run, or use the command line: mtface predict IMAGE --out DIR",
            file=sys.stderr,
        )
        return 2
    configure_threads()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["mtface"])
    window = create_window([Path(p) for p in argv], predictor_factory=factory, landmarks=landmarks)
    window.show()
    if profile:

        def report() -> None:
            window.predictionShown.disconnect(report)
            QtWidgets.QApplication.processEvents()  # the paints of the result, then the clock
            now = time.time()
            print(
                f"startup: from process start to a reconstructed sample on screen "
                f"{now - start:.2f} s (imports done after {IMPORTED_AT - start:.2f} s)",
                flush=True,
            )

        window.predictionShown.connect(report)
    code = app.exec()
    _shutdown(app, window)
    return code
