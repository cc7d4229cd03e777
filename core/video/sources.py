"""Frame sources behind one small interface: a webcam (device index) or a video file, both via
``cv2.VideoCapture`` (the same code path, which is how tests and benchmarks run without a
camera). Frames come out as RGB uint8 (H, W, 3)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class SourceError(RuntimeError):
    """A camera that is absent, busy or unplugged, or a video file that cannot be read."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    index: int
    timestamp: float  # seconds (stream time for files, monotonic clock for cameras)
    grabbed_at: float  # time.perf_counter() when read


class FrameSource:
    """``read()`` -> Frame or None at the end of the stream; ``release()`` frees the device."""

    def __init__(
        self, spec: str | int, width: int | None = None, height: int | None = None
    ) -> None:
        self.spec = spec
        self.is_camera = isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit())
        if not self.is_camera and not Path(str(spec)).exists():
            raise SourceError(f"video file not found: {spec}")
        target = int(spec) if self.is_camera else str(spec)
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            self.capture.release()
            raise SourceError(
                f"camera {spec} is absent or busy"
                if self.is_camera
                else f"cannot open the video file {spec}"
            )
        if self.is_camera and width and height:
            self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        self.index = 0
        self._failures = 0

    def read(self) -> Frame | None:
        ok, bgr = self.capture.read()
        now = time.perf_counter()
        if not ok or bgr is None:
            if self.is_camera:
                self._failures += 1
                if self._failures >= 10:
                    raise SourceError(f"camera {self.spec} stopped delivering frames (unplugged?)")
                return self.read() if self._failures < 10 else None
            return None  # end of the file (or a corrupt tail): the stream ends cleanly
        self._failures = 0
        stamp = self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if not self.is_camera else now
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.index, stamp, now)
        self.index += 1
        return frame

    def release(self) -> None:
        self.capture.release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
