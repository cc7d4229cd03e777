"""Result types of mtface. All coordinates follow core.geometry's conventions (image pixels,
x right, y down, z toward the viewer; angles in degrees, ``Pose_Para`` convention)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FaceBox:
    """A face box (x0, y0, x1, y1) in image pixels with the detector's score in [0, 1].

    ``keypoints`` (6, 2) are BlazeFace's eye/nose/mouth/ear points when the detector gave them.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0
    keypoints: np.ndarray | None = None

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees, R = Rx(pitch) Ry(yaw) Rz(roll) (AFLW2000-3D ``Pose_Para``)."""

    pitch: float
    yaw: float
    roll: float

    def as_dict(self) -> dict[str, float]:
        return {"pitch": self.pitch, "yaw": self.yaw, "roll": self.roll}


@dataclass(frozen=True)
class StageOutput:
    """What one cascade stage produced for a face, in image coordinates.

    vertices (V, 3) and landmarks (68, 3) are the ACCUMULATED shape after this stage (the sum of
    the stage updates, Eq. 13); visible (68,) bool; pose in degrees.
    """

    vertices: np.ndarray
    landmarks: np.ndarray
    visible: np.ndarray
    pose: Pose


@dataclass(frozen=True)
class Face:
    """One reconstructed face.

    box: the crop's source box and score; vertices (V, 3) dense shape; landmarks (68, 3) the
    iBUG-68 points in 3D (their orthographic projection is ``landmarks[:, :2]``); visible (68,)
    bool, what a person sees: not occluded by the mesh (core/visibility.py); pose in degrees;
    stages: per-stage outputs for inspection (the last equals the final result; their
    ``visible`` is the cascade's own normal test).
    """

    box: FaceBox
    vertices: np.ndarray
    landmarks: np.ndarray
    visible: np.ndarray
    pose: Pose
    stages: tuple[StageOutput, ...] = field(default_factory=tuple)
    convention: str = "3d"
    """'3d': landmarks are points fixed to the 3D head (may be hidden); '2d': the jaw follows the
    visible outline, as people annotate photos (core/landmarks2d.py)."""
    confidence: float | None = None
    """How much to trust the face, in (0, 1] (core/confidence.py; low = likely wrong): the one
    value predict, annotate and the studio report. None where it was not computed (live video
    frames, faces rebuilt from a person's corrections)."""

    @property
    def landmarks_2d(self) -> np.ndarray:
        """Orthographic projection of the 3D landmarks, (68, 2) pixels."""
        return self.landmarks[:, :2]


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each step of one prediction."""

    detect_ms: float = 0.0
    stage_ms: tuple[float, ...] = ()
    post_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True)
class Prediction:
    """All faces of one image, with the image size (height, width) and the timings."""

    faces: list[Face]
    image_size: tuple[int, int]
    timings: Timings = field(default_factory=Timings)
