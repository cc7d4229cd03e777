"""Studio figures: start-up to a reconstructed sample on screen, the redraw time of a landmark
drag, and the 3D view's rotation frame rate. Needs a display (run under xvfb-run on a server).

Usage: xvfb-run -a -s "-screen 0 1400x900x24" python tools/studio_benchmark.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import numpy as np


def startup_seconds() -> float:
    """`mtface --profile-startup` in a fresh process, closed as soon as it reports."""
    code = ("import sys; from PySide6 import QtCore, QtWidgets; from mtface.gui import app; "
            "QtCore.QTimer.singleShot(100, lambda: None); "
            "orig = app.create_window\n"
            "def wrapped(*a, **k):\n"
            "    w = orig(*a, **k)\n"
            "    w.predictionShown.connect(lambda: QtCore.QTimer.singleShot(0, w.close))\n"
            "    return w\n"
            "app.create_window = wrapped\n"
            "sys.exit(app.main(['--profile-startup']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("startup:"))
    return float(line.split()[-2])


def main() -> None:
    print(f"start-up to a reconstructed sample on screen: {startup_seconds():.2f} s (target 3 s)")
    from PySide6 import QtWidgets

    from mtface.gui.app import create_window

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["bench"])
    window = create_window()
    window.show()
    while window.doc is None or window.doc.prediction is None:
        app.processEvents()
        time.sleep(0.01)
    session = window.doc.session
    start = session.current().landmarks[30].copy()
    times = []
    for i in range(60):
        t0 = time.perf_counter()
        session.move_point(30, tuple(start + np.array([i % 10, 0.0])))
        window.image_view.repaint()
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"drag step (edit + 2D redraw + 3D update): median {statistics.median(times):.1f} ms "
          f"-> {1000 / statistics.median(times):.0f} updates/s")
    plotter = window.mesh_view.plotter
    for _ in range(5):
        plotter.render()
    n = 60
    t0 = time.perf_counter()
    for _ in range(n):
        plotter.camera.azimuth += 6
        plotter.render()
        app.processEvents()
    fps = n / (time.perf_counter() - t0)
    print(f"3D view rotation: {fps:.0f} frames/s (target 30)")
    session.mark_saved()
    window.close()


if __name__ == "__main__":
    main()
