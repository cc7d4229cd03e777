"""Live mode: a camera or a video file through the tracker, shown in the studio.

Threads: a reader keeps only the NEWEST frame of a camera (no queue, no growing latency; a file
in benchmark mode hands over every frame); an inference thread runs the FaceTracker; the GUI
thread draws (the 3D view too: VTK stays on the GUI thread). Shown: fps, per-stage latency,
number of faces. Pause, step, snapshot (the frame and its prediction go to the annotation
editor), optional recording of the landmarks to CSV.
"""

from __future__ import annotations

import csv
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6 import QtCore

from mtface.core.types import Prediction
from mtface.core.video.sources import Frame, FrameSource, SourceError
from mtface.core.video.tracking import FaceTracker


@dataclass
class LiveStats:
    """Figures of a live run (milliseconds and frames per second)."""

    frames: int = 0
    started: float = field(default_factory=time.perf_counter)
    latencies_ms: list[float] = field(default_factory=list)
    cascade_ms: list[float] = field(default_factory=list)
    detect_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    def summary(self) -> str:
        lat = np.array(self.latencies_ms or [0.0])
        cas = np.array(self.cascade_ms or [0.0])
        det = np.array([d for d in self.detect_ms if d > 0] or [0.0])
        mem = self.rss_mb or [0.0]
        return (f"frames {self.frames}  end-to-end {self.fps:.1f} fps\n"
                f"latency grab->drawn: median {np.median(lat):.1f} ms, p95 "
                f"{np.percentile(lat, 95):.1f} ms\n"
                f"cascade median {np.median(cas):.1f} ms; detector ran "
                f"{len([d for d in self.detect_ms if d > 0])} times, median {np.median(det):.1f} ms\n"
                f"memory (max RSS): first {mem[0]:.0f} MB, last {mem[-1]:.0f} MB")


class LiveController(QtCore.QObject):
    """Drives a FrameSource through a FaceTracker off the GUI thread."""

    frameReady = QtCore.Signal(object, object)  # Frame, Prediction
    stopped = QtCore.Signal(str)  # reason ("" at the normal end of a file)

    def __init__(self, tracker: FaceTracker, source: FrameSource, realtime: bool = True,
                 record_csv: Path | None = None) -> None:
        super().__init__()
        self.tracker = tracker
        self.source = source
        self.realtime = realtime  # files: paced at their fps; False: every frame, flat out
        self.stats = LiveStats()
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._new = threading.Event()
        self._consumed = threading.Event()
        self._consumed.set()
        self._running = True
        self._paused = threading.Event()
        self._paused.set()  # set = running
        self._step = False
        self._drawn = threading.Event()
        self._drawn.set()
        self._record = None
        self._record_file = None
        if record_csv is not None:
            self._record_file = open(record_csv, "w", newline="")  # noqa: SIM115
            self._record = csv.writer(self._record_file)
            self._record.writerow(["frame", "time_s", "point", "x", "y", "z", "visible",
                                   "pitch", "yaw", "roll"])
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name="mtface-live-reader")
        self._worker = threading.Thread(target=self._infer_loop, daemon=True,
                                        name="mtface-live-infer")

    def start(self) -> None:
        self._reader.start()
        self._worker.start()

    # --- threads ----------------------------------------------------------------------------

    def _read_loop(self) -> None:
        next_due = time.perf_counter()
        try:
            while self._running:
                if not self.source.is_camera:
                    if self.realtime:
                        next_due += 1.0 / self.source.fps
                        time.sleep(max(0.0, next_due - time.perf_counter()))
                    else:
                        self._consumed.wait()  # benchmark: hand over every frame
                self._paused.wait()
                frame = self.source.read()
                if frame is None:
                    self._finish("")
                    return
                with self._lock:
                    self._latest = frame  # older, unprocessed frames are dropped
                    self._consumed.clear()
                self._new.set()
        except SourceError as exc:
            self._finish(str(exc))

    def _infer_loop(self) -> None:
        while self._running:
            if not self._new.wait(timeout=0.2):
                continue
            with self._lock:
                frame, self._latest = self._latest, None
                self._new.clear()
            if frame is None:
                continue
            prediction = self.tracker.process(frame.image, frame.timestamp)
            self._consumed.set()
            self._drawn.clear()
            self.frameReady.emit(frame, prediction)
            self._drawn.wait(timeout=1.0)  # the GUI draws before the next frame is processed
            if self._step:
                self._step = False
                self._paused.clear()

    def _finish(self, reason: str) -> None:
        if self._running:
            self._running = False
            self.stopped.emit(reason)

    # --- called from the GUI thread ---------------------------------------------------------

    def mark_drawn(self, frame: Frame, prediction: Prediction) -> None:
        """The GUI drew the frame: record latency, stats and the optional CSV."""
        now = time.perf_counter()
        s = self.stats
        s.frames += 1
        s.latencies_ms.append((now - frame.grabbed_at) * 1e3)
        s.cascade_ms.append(sum(prediction.timings.stage_ms))
        s.detect_ms.append(prediction.timings.detect_ms)
        if s.frames % 30 == 1:
            s.rss_mb.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
        if self._record is not None and prediction.faces:
            f = prediction.faces[0]
            for i, ((x, y, z), v) in enumerate(zip(f.landmarks, f.visible)):
                self._record.writerow([frame.index, f"{frame.timestamp:.4f}", i + 1,
                                       f"{x:.2f}", f"{y:.2f}", f"{z:.2f}", int(v),
                                       f"{f.pose.pitch:.2f}", f"{f.pose.yaw:.2f}",
                                       f"{f.pose.roll:.2f}"])
        self._drawn.set()

    def pause(self, paused: bool) -> None:
        if paused:
            self._paused.clear()
        else:
            self._paused.set()

    @property
    def paused(self) -> bool:
        return not self._paused.is_set()

    def step(self) -> None:
        """Process exactly one more frame, then pause."""
        self._step = True
        self._paused.set()

    def stop(self) -> None:
        self._running = False
        self._paused.set()
        self._consumed.set()
        self._new.set()
        self._drawn.set()
        for thread in (self._reader, self._worker):
            if thread.is_alive():
                thread.join(timeout=3)
        self.source.release()
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None
