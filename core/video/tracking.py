"""Live tracking: crops from the previous frame's landmarks instead of a detector per frame, and
One-Euro smoothing of landmarks, vertices and pose.

One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass filter whose cut-off rises with
the signal's speed, so still faces stop jittering while fast motion keeps little lag.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from mtface.core.crop_coords import POSE_SCALE_DEGREES
from mtface.core.geometry import box_of_points
from mtface.core.types import Face, Pose, Prediction, Timings

if TYPE_CHECKING:
    from mtface.core.predictor import Predictor


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroFilter:
    """Filters arrays of any fixed shape. ``min_cutoff`` (Hz) sets the smoothing of slow
    motion, ``beta`` how fast the cut-off grows with speed; ``d_cutoff`` filters the speed."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0
    _x: np.ndarray | None = None
    _dx: np.ndarray | None = None
    _t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or self._x.shape != x.shape or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        tau = 1.0 / (2.0 * np.pi * cutoff)
        a = 1.0 / (1.0 + tau / dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()


@dataclass
class FaceSmoother:
    """One-Euro filters for one face's landmarks, vertices and pose (degrees)."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    enabled: bool = True
    _filters: dict[str, OneEuroFilter] = field(default_factory=dict)
    _scale: float | None = None

    def configure(self, min_cutoff: float, beta: float, enabled: bool) -> None:
        self.min_cutoff, self.beta, self.enabled = min_cutoff, beta, enabled
        for f in self._filters.values():
            f.min_cutoff, f.beta = min_cutoff, beta

    def reset(self) -> None:
        self._filters.clear()
        self._scale = None

    def _filter(self, name: str, value: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        f = self._filters.setdefault(name, OneEuroFilter(self.min_cutoff, self.beta))
        return f(value / scale, t) * scale

    def __call__(self, face: Face, t: float) -> Face:
        if not self.enabled:
            return face
        # speeds in face widths per second, so beta does not depend on the image size; the
        # width is fixed when the filters start (a per-frame width would modulate the output)
        if self._scale is None:
            self._scale = max(face.box.width, face.box.height, 1.0)
        size = self._scale
        lm = self._filter("landmarks", face.landmarks, t, size).astype(np.float32)
        vt = self._filter("vertices", face.vertices, t, size).astype(np.float32)
        pose = self._filter(
            "pose",
            np.array([face.pose.pitch, face.pose.yaw, face.pose.roll]),
            t,
            POSE_SCALE_DEGREES,
        )
        return replace(face, landmarks=lm, vertices=vt, pose=Pose(*map(float, pose)))


@dataclass
class TrackerState:
    landmarks: np.ndarray | None = None
    patch: np.ndarray | None = None  # the face's appearance in the last frame (normalised)
    box: tuple[float, float, float, float] | None = None  # where that patch was taken


PATCH = 24


def face_patch(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
    """A small zero-mean, unit-norm grey patch of ``box`` (x0, y0, x1, y1) in an RGB image,
    for comparing the same place across frames; None when the box is outside the image."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    region = image[y0:y1, x0:x1]
    small = cv2.resize(region, (PATCH, PATCH), interpolation=cv2.INTER_AREA)
    grey = small.astype(np.float32).mean(2).ravel()
    grey -= grey.mean()
    norm = float(np.linalg.norm(grey))
    return grey / norm if norm > 1e-3 else grey


def appearance_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Normalised cross-correlation of two face patches in [-1, 1] (1: unknown)."""
    if a is None or b is None or a.shape != b.shape:
        return 1.0
    return float(np.dot(a, b))


class FaceTracker:
    """Follows one face: the detector finds it, then each frame is cropped from the previous
    frame's landmarks (``Predictor.crop_from_landmarks``). Before each tracked frame a cheap
    consistency check compares the face's region with the previous frame's (normalised
    cross-correlation of small grey patches): when it changed (the face was replaced, the scene
    cut, or something covers it) the detector runs again and its box re-starts the track. The
    detector also runs when the face is lost (the landmark box collapses, leaves the image, or
    stage 2 moves stage 1's points by more than ``lost_disagreement`` of the face size) and
    every ``recheck_every`` frames."""

    def __init__(
        self,
        predictor: Predictor,
        smoother: FaceSmoother | None = None,
        recheck_every: int = 30,
        change_threshold: float = 0.8,
        lost_disagreement: float = 0.15,
    ) -> None:
        self.predictor = predictor
        self.smoother = smoother or FaceSmoother()
        self.recheck_every = recheck_every
        self.change_threshold = change_threshold
        self.lost_disagreement = lost_disagreement
        self.state = TrackerState()
        self.detections = 0
        self.changes = 0  # scene / face changes noticed by the consistency check
        self._frames = 0

    def reset(self) -> None:
        self.state = TrackerState()
        self.smoother.reset()

    def _plausible(self, face: Face, shape: tuple[int, int]) -> bool:
        x0, y0, x1, y1 = box_of_points(face.landmarks)
        h, w = shape
        side = max(x1 - x0, y1 - y0)
        inside = x1 > 0 and y1 > 0 and x0 < w and y0 < h
        if not (inside and 12 < side < 4 * max(h, w)):
            return False
        if len(face.stages) > 1:
            first, last = face.stages[0].landmarks[:, :2], face.stages[-1].landmarks[:, :2]
            moved = float(np.linalg.norm(first - last, axis=1).mean())
            if moved > self.lost_disagreement * max(side, 1.0):
                return False
        return True

    def _changed(self, image: np.ndarray) -> bool:
        """Did the tracked face's region change since the last frame?"""
        state = self.state
        if state.patch is None or state.box is None:
            return False
        now = face_patch(image, state.box)
        return appearance_similarity(state.patch, now) < self.change_threshold

    def process(self, image: np.ndarray, t: float | None = None) -> Prediction:
        """One frame -> Prediction with at most one (smoothed) face."""
        t = time.perf_counter() if t is None else t
        self._frames += 1
        p = self.predictor
        start = time.perf_counter()
        detect_ms = 0.0
        changed = self.state.landmarks is not None and self._changed(image)
        if changed:
            self.changes += 1
        need_detect = (
            self.state.landmarks is None or changed or self._frames % self.recheck_every == 0
        )
        box = None
        if need_detect:
            d0 = time.perf_counter()
            boxes = p.video_detector.detect(image)
            detect_ms = (time.perf_counter() - d0) * 1e3
            self.detections += 1
            if not boxes:
                self.reset()
                return Prediction([], image.shape[:2], Timings(detect_ms, (), 0.0, detect_ms))
            box = boxes[0]
            if self.state.landmarks is not None and not changed:
                # a periodic re-check: keep tracking if it agrees
                cx, cy = self.state.landmarks[:, :2].mean(0)
                if box.x0 <= cx <= box.x1 and box.y0 <= cy <= box.y1:
                    box = None
        c0 = time.perf_counter()
        if box is not None:  # a detection: the still-image path (box, then one re-crop)
            face = p.predict_face(image, box=box, box_kind="detector", refine=True)
            self.smoother.reset()
        else:  # tracking: the crop from the previous frame's landmarks, one pass
            face = p.predict_face(image, landmarks_2d=self.state.landmarks[:, :2])
        cascade_ms = (time.perf_counter() - c0) * 1e3
        if not self._plausible(face, image.shape[:2]):
            self.reset()
            return Prediction(
                [],
                image.shape[:2],
                Timings(detect_ms, (cascade_ms,), 0.0, (time.perf_counter() - start) * 1e3),
            )
        smoothed = self.smoother(face, t)
        # track from the raw result (no lag build-up) and from the network's own keypoints,
        # whose box the training crop rule was made for (not the 2d or offset 3d reading)
        self.state.landmarks = face.stages[-1].landmarks if face.stages else face.landmarks
        self.state.box = box_of_points(face.landmarks)
        self.state.patch = face_patch(image, self.state.box)
        total = (time.perf_counter() - start) * 1e3
        return Prediction(
            [smoothed], image.shape[:2], Timings(detect_ms, (cascade_ms,), 0.0, total)
        )


def jitter(landmark_series: list[np.ndarray]) -> float:
    """Mean frame-to-frame landmark motion (pixels) of a sequence of (68, >=2) arrays."""
    if len(landmark_series) < 2:
        return 0.0
    steps = [
        np.linalg.norm(b[:, :2] - a[:, :2], axis=1).mean()
        for a, b in zip(landmark_series[:-1], landmark_series[1:])
    ]
    return float(np.mean(steps))
