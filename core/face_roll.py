"""How far a face is turned in the image plane (its roll on screen), from a detector's points
or from 68 landmarks, and the crop angle the predictor uses for it (ADR 35).

The cascade was trained on faces within about 20 degrees of upright (300-W photos and their
synthetic views, roll +-20). A face lying on its side or upside down gets a crop turned with
the face, so the network sees it upright; the points come back through the crop's transform.

Angles are radians in image axes (x right, y down): the direction of the face's left-right
axis, from the eye on the image's left of an upright face to the other one: 0 for an upright
face, +pi/2 for a face turned a quarter clockwise on screen (the top of its head toward the
image's right). It is the ``CropTransform.angle`` that makes the face level in the crop. No
torch, no Qt.
"""

from __future__ import annotations

import math

import numpy as np

#: Faces whose roll on screen is within this many degrees keep the axis-aligned crop (the
#: cascade's training range and the crop every accuracy figure was measured with); beyond it
#: the crop is turned with the face. Chosen on w300 training photos turned in the image plane
#: (tools/roll_sweep.py; ADR 35).
ROLL_LIMIT_DEG = 15.0

#: 68-point indices of the two eyes (the image-left eye of an upright face first) and the mouth.
_EYES_68 = (tuple(range(36, 42)), tuple(range(42, 48)))
_MOUTH_68 = tuple(range(48, 68))


def roll_from_eyes_and_mouth(
    left_eye: np.ndarray, right_eye: np.ndarray, mouth: np.ndarray
) -> float:
    """The face's roll on screen (radians, in (-pi, pi]) from the image-left eye, the other
    eye and the mouth of an upright face (each (2,) image pixels): the eye line and the
    eyes-to-mouth direction turned a quarter back, added as vectors, so that the eye line
    leads on frontal faces and the eyes-to-mouth direction on profiles, where the eyes
    nearly meet. NaN when the points coincide."""
    eye_line = np.asarray(right_eye, np.float64) - np.asarray(left_eye, np.float64)
    down = (
        np.asarray(mouth, np.float64)
        - (np.asarray(left_eye, np.float64) + np.asarray(right_eye, np.float64)) / 2.0
    )
    # the eye line weighs as much as it is long beside the eyes-to-mouth line: on a profile it
    # is short and tilted by the pitch, and the eyes-to-mouth line leads
    weight = float(np.linalg.norm(eye_line)) / max(float(np.linalg.norm(down)), 1e-9)
    across = min(weight, 1.0) * eye_line + np.array([down[1], -down[0]])  # down (0,1) -> (1,0)
    if not np.isfinite(across).all() or np.linalg.norm(across) < 1e-9:
        return float("nan")
    return float(math.atan2(across[1], across[0]))


def roll_of_detector_points(keypoints: np.ndarray | None) -> float:
    """Roll on screen (radians) from a detector's points: YuNet's five (two eyes, nose, two
    mouth corners) or BlazeFace's six (two eyes, nose, mouth, two ears), the image-left eye
    of an upright face first. NaN without usable points."""
    if keypoints is None:
        return float("nan")
    k = np.asarray(keypoints, np.float64)
    if k.shape == (5, 2):
        mouth = (k[3] + k[4]) / 2.0
    elif k.shape == (6, 2):
        mouth = k[3]
    else:
        return float("nan")
    return roll_from_eyes_and_mouth(k[0], k[1], mouth)


def roll_of_landmarks(landmarks: np.ndarray) -> float:
    """Roll on screen (radians) of 68 landmarks (68, >=2) in image pixels (iBUG order)."""
    pts = np.asarray(landmarks, np.float64)[:, :2]
    return roll_from_eyes_and_mouth(
        pts[list(_EYES_68[0])].mean(0), pts[list(_EYES_68[1])].mean(0), pts[list(_MOUTH_68)].mean(0)
    )


def crop_angle(roll: float, limit_deg: float = ROLL_LIMIT_DEG) -> float:
    """The crop angle (radians) for a face of ``roll``: 0 within ``limit_deg`` of upright or
    when the roll is unknown (NaN), else the roll itself."""
    if not math.isfinite(roll) or abs(math.degrees(roll)) <= limit_deg:
        return 0.0
    return float(roll)
