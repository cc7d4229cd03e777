"""Live mode: a camera or a video file through the tracker, shown in the studio.

Threads, all three at work at once: a reader keeps only the NEWEST frame (no queue, no growing
latency; a file in benchmark mode hands over every frame, decoding the next while the model
runs); an inference thread runs the FaceTracker and never waits for drawing; the GUI thread
draws the newest result whenever it is free (results that arrive while it draws are replaced,
so slow drawing drops frames instead of lagging; VTK stays on the GUI thread). Pause keeps the
reader's place (resuming or stepping does not jump ahead by the paused time); step reads and
shows exactly one frame. Shown: fps, per-stage latency, number of faces. Snapshot (the frame
and its prediction go to the annotation editor), optional recording of every processed
frame's landmarks to CSV.
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

    frames: int = 0  # drawn
    processed: int = 0  # through the model (every frame of a file in benchmark mode)
    started: float = field(default_factory=time.perf_counter)
    latencies_ms: list[float] = field(default_factory=list)
    cascade_ms: list[float] = field(default_factory=list)
    detect_ms: list[float] = field(default_factory=list)
    model_ms: list[float] = field(default_factory=list)  # the tracker: detector + cascade
    rss_mb: list[float] = field(default_factory=list)
    mesh_ms: list[float] = field(default_factory=list)  # each 3D view update (GUI thread)
    threads: str = ""

    @property
    def fps(self) -> float:
        """Frames drawn per second."""
        elapsed = time.perf_counter() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    @property
    def processed_fps(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.processed / elapsed if elapsed > 0 else 0.0

    def summary(self) -> str:
        lat = np.array(self.latencies_ms or [0.0])
        cas = np.array(self.cascade_ms or [0.0])
        det = np.array([d for d in self.detect_ms if d > 0] or [0.0])
        mem = self.rss_mb or [0.0]
        model = np.array(self.model_ms or [0.0])
        e2e_ms = 1000.0 / self.fps if self.fps > 0 else 0.0
        ratio = e2e_ms / model.mean() if model.mean() > 0 else 0.0
        return (
            f"frames {self.frames} drawn, {self.processed} through the model; end-to-end "
            f"{self.fps:.1f} fps drawn, {self.processed_fps:.1f} fps tracked\n"
            f"per frame: end-to-end {e2e_ms:.1f} ms (drawn); model only (tracker: detector "
            f"when it runs + cascade) mean {model.mean():.1f} ms, median "
            f"{np.median(model):.1f} "
            f"ms -> end-to-end / model {ratio:.2f}x\n"
            f"latency grab->drawn: median {np.median(lat):.1f} ms, p95 "
            f"{np.percentile(lat, 95):.1f} ms\n"
            f"cascade median {np.median(cas):.1f} ms; detector ran "
            f"{len([d for d in self.detect_ms if d > 0])} times, median "
            f"{np.median(det):.1f} ms\n"
            f"memory (max RSS): first {mem[0]:.0f} MB, last {mem[-1]:.0f} MB\n"
            + (
                f"3D view: {len(self.mesh_ms)} mesh updates, median "
                f"{np.median(self.mesh_ms):.1f} ms each (GUI thread)"
                if self.mesh_ms
                else "3D view: no mesh updates (off or unavailable)"
            )
            + (f"\nthreads: {self.threads}" if self.threads else "")
        )


class LiveController(QtCore.QObject):
    """Drives a FrameSource through a FaceTracker off the GUI thread."""

    frameReady = QtCore.Signal(object, object)  # Frame, Prediction
    stopped = QtCore.Signal(str)  # reason ("" at the normal end of a file)

    def __init__(
        self,
        tracker: FaceTracker,
        source: FrameSource,
        realtime: bool = True,
        record_csv: Path | None = None,
    ) -> None:
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
        self._step_request = threading.Event()
        self._wake = threading.Event()
        self._drawing = False  # a result is with the GUI, not drawn yet
        self._ready: tuple[Frame, Prediction] | None = None  # the newest result not sent yet
        self._record = None
        self._record_file = None
        if record_csv is not None:
            self._record_file = open(record_csv, "w", newline="")
            self._record = csv.writer(self._record_file)
            self._record.writerow(
                ["frame", "time_s", "point", "x", "y", "z", "visible", "pitch", "yaw", "roll"]
            )
        self._reader = threading.Thread(
            target=self._read_loop, daemon=True, name="mtface-live-reader"
        )
        self._worker = threading.Thread(
            target=self._infer_loop, daemon=True, name="mtface-live-infer"
        )

    def start(self) -> None:
        self._reader.start()
        self._worker.start()

    # --- threads ----------------------------------------------------------------------------

    def _wait_while_paused(self) -> bool:
        """Block while paused; True when one step was asked for (read one frame, stay
        paused)."""
        while self._running and not self._paused.is_set():
            self._wake.wait(timeout=0.2)
            self._wake.clear()
            if self._step_request.is_set():
                self._step_request.clear()
                return True
        return False

    def _read_loop(self) -> None:
        next_due = time.perf_counter()
        try:
            while self._running:
                if not self._paused.is_set():
                    stepping = self._wait_while_paused()
                    # the schedule restarts where it stopped: no jump ahead by the paused time
                    next_due = time.perf_counter()
                    if not self._running:
                        return
                    if not stepping and not self._paused.is_set():
                        continue
                elif not self.source.is_camera:
                    if self.realtime:
                        next_due += 1.0 / self.source.fps
                        delay = next_due - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)
                        elif delay < -0.5:  # far behind (a stall): restart the schedule
                            next_due = time.perf_counter()
                    else:
                        self._consumed.wait()  # benchmark: hand over every frame
                    if not self._paused.is_set():
                        continue  # paused while waiting: read nothing more
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
            self._consumed.set()  # the reader decodes the next frame while this one runs
            prediction = self.tracker.process(frame.image, frame.timestamp)
            self._processed(frame, prediction)
            with self._lock:
                send = not self._drawing  # the GUI is free: hand it this result now
                if send:
                    self._drawing = True
                else:
                    self._ready = (frame, prediction)  # it is busy: it takes the newest later
            if send:
                self.frameReady.emit(frame, prediction)

    def _finish(self, reason: str) -> None:
        if self._running:
            self._running = False
            self.stopped.emit(reason)

    # --- called from the GUI thread ---------------------------------------------------------

    def _processed(self, frame: Frame, prediction: Prediction) -> None:
        """Inference thread: model figures and the optional CSV, for every processed frame
        (drawing may skip frames; the record does not)."""
        s = self.stats
        s.processed += 1
        s.cascade_ms.append(sum(prediction.timings.stage_ms))
        s.detect_ms.append(prediction.timings.detect_ms)
        s.model_ms.append(prediction.timings.total_ms)
        if self._record is not None and prediction.faces:
            f = prediction.faces[0]
            for i, ((x, y, z), v) in enumerate(zip(f.landmarks, f.visible)):
                self._record.writerow(
                    [
                        frame.index,
                        f"{frame.timestamp:.4f}",
                        i + 1,
                        f"{x:.2f}",
                        f"{y:.2f}",
                        f"{z:.2f}",
                        int(v),
                        f"{f.pose.pitch:.2f}",
                        f"{f.pose.yaw:.2f}",
                        f"{f.pose.roll:.2f}",
                    ]
                )

    # --- called from the GUI thread ---------------------------------------------------------

    def mark_drawn(self, frame: Frame, prediction: Prediction) -> None:
        """The GUI drew the frame: record latency and memory, then hand over the newest
        result that arrived meanwhile (older ones are dropped: no lag builds up)."""
        now = time.perf_counter()
        s = self.stats
        s.frames += 1
        s.latencies_ms.append((now - frame.grabbed_at) * 1e3)
        if s.frames % 30 == 1:
            s.rss_mb.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
        with self._lock:
            item, self._ready = self._ready, None
            self._drawing = item is not None
        if item is not None:
            QtCore.QTimer.singleShot(0, lambda: self._emit_ready(item))

    def _emit_ready(self, item: tuple[Frame, Prediction]) -> None:
        if self._running or not self._worker.is_alive():
            self.frameReady.emit(*item)
        else:
            with self._lock:
                self._drawing = False

    def pause(self, paused: bool) -> None:
        if paused:
            self._paused.clear()
        else:
            self._paused.set()
        self._wake.set()

    @property
    def paused(self) -> bool:
        return not self._paused.is_set()

    def step(self) -> None:
        """Read and process exactly one more frame, then stay paused."""
        self._paused.clear()
        self._step_request.set()
        self._wake.set()

    def stop(self) -> None:
        self._running = False
        self._paused.set()
        self._wake.set()
        self._consumed.set()
        self._new.set()
        for thread in (self._reader, self._worker):
            if thread.is_alive():
                thread.join(timeout=3)
        self.source.release()
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None
