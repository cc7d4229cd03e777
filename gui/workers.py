"""Inference off the GUI thread. The worker keeps only the newest request: while it computes,
later requests replace each other, so the window never waits and never queues stale work."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

import numpy as np
from PySide6 import QtCore


class InferenceWorker(QtCore.QObject):
    """Runs ``predict(image)`` in its own thread. Emits finished(request_id, Prediction) or
    failed(request_id, message)."""

    finished = QtCore.Signal(int, object)
    failed = QtCore.Signal(int, str)

    def __init__(self, predict: Callable[[np.ndarray], object]) -> None:
        super().__init__()
        self._predict = predict
        self._lock = threading.Lock()
        self._pending: tuple[int, np.ndarray] | None = None
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="mtface-inference", daemon=True)
        self._thread.start()

    def submit(self, request_id: int, image: np.ndarray) -> None:
        with self._lock:
            self._pending = (request_id, image)
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                job, self._pending = self._pending, None
                self._wake.clear()
            if self._stop:
                return
            if job is None:
                continue
            request_id, image = job
            try:
                result = self._predict(image)
            except Exception as exc:  # noqa: BLE001 - reported to the user, never a crash
                traceback.print_exc()
                self.failed.emit(request_id, f"{type(exc).__name__}: {exc}")
            else:
                self.finished.emit(request_id, result)

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
