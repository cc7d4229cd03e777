"""From a YuNet detection to the box the predictor's first crop is made from.

The predictor's first crop is calibrated on BlazeFace's boxes (``predictor.DETECTOR_BOX_SCALE``
and ``DETECTOR_BOX_SHIFT_Y``), so a YuNet face is returned as the box BlazeFace would give for
the same 68-landmark box. That landmark box (centre and larger side) comes from:

- near-frontal faces (``turn_ratio`` at most the detector's limit): a ridge regression from
  YuNet's five points (relative to its box) and the box's aspect to the crop the predictor's
  second pass picks, fitted by ``tools/calibrate_yunet.py`` on training faces and shipped as
  ``resources/detector/yunet_crop.json`` (:class:`CropCalibration`);
- turned faces: the same regression fitted by ``tools/calibrate_turned_crop.py`` on the boxes
  YuNet gives on large-pose views with background of w300 training photos, to the views' exact
  landmark box (``resources/detector/yunet_crop_turned.json``, ADR 31): on a profile YuNet's
  box covers hair and ear and its five points say where the face lies in it;
- no calibration: the plain geometry measured on 250 teacher-labelled LFW training faces:
  the larger side of the landmark box is 0.766 (std 0.038) x the larger side of YuNet's box,
  its centre 0.118 (std 0.028) x the box height below YuNet's centre. The near-frontal
  regression, fitted on mostly frontal photos, placed profiles worse
  (docs/adr/0013-still-image-cost.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.types import FaceBox

YUNET_LANDMARK_SCALE = 0.766
YUNET_SHIFT_Y = 0.118
#: BlazeFace's geometry (core/predictor.py): landmark side / box side, centre offset / side.
_BLAZEFACE_LANDMARK_SCALE = 0.881
_BLAZEFACE_SHIFT_Y = 0.030
CALIBRATION_FORMAT = "mtface-yunet-crop-1"
#: The largest ``turn_ratio`` of a near-frontal face: about 30 degrees of yaw (medians 0.05 /
#: 0.18 / 0.34 in the yaw bins [0, 15), [15, 30), [30, 45) of the 991 w300 training faces, yaw
#: by the cascade).
TURN_LIMIT = 0.25


@dataclass(frozen=True)
class YuNetFace:
    """One YuNet detection in image pixels: box (x, y, w, h), score in [0, 1], keypoints (5, 2):
    right eye, left eye, nose tip, right and left mouth corner (as the person sees them)."""

    x: float
    y: float
    w: float
    h: float
    score: float
    keypoints: np.ndarray


def signed_turn(keypoints: np.ndarray | None) -> float:
    """Which way and how far a face looks turned, from YuNet's five points (5, 2): the nose
    tip's offset from the eyes' midpoint along the eye line (right eye -> left eye), in eye
    distances. About 0 for a frontal face, beyond +-0.5 for a profile. Its sign is opposite to
    the cascade's yaw (in 616 of the 621 aflw_val profiles, |yaw| > 60, whose box was right).
    NaN without five points or when the eyes coincide."""
    if keypoints is None or np.asarray(keypoints).size != 10:
        return float("nan")
    k = np.asarray(keypoints, dtype=np.float64).reshape(5, 2)
    eye_line = k[1] - k[0]
    eye_distance = float(np.linalg.norm(eye_line))
    if eye_distance < 1e-6:
        return float("nan")
    return float(np.dot(k[2] - (k[0] + k[1]) / 2.0, eye_line / eye_distance)) / eye_distance


def turn_ratio(keypoints: np.ndarray | None) -> float:
    """How far a face looks turned: ``|signed_turn|``; inf without usable points."""
    turn = signed_turn(keypoints)
    return abs(turn) if np.isfinite(turn) else float("inf")


def turned_the_other_way(
    keypoints: np.ndarray | None, yaw_deg: float, yaw_limit_deg: float = 30.0
) -> bool:
    """True when YuNet's five points and the cascade's yaw (degrees) both say the face is
    clearly turned (``turn_ratio`` above ``TURN_LIMIT``, |yaw| above ``yaw_limit_deg``) but
    in opposite directions: the box is likely on the back of the head, an ear or a cheek, from
    which the cascade reads a face turned the other way (docs/adr/0009-detector-path.md)."""
    turn = signed_turn(keypoints)
    return (
        np.isfinite(turn)
        and abs(turn) > TURN_LIMIT
        and abs(yaw_deg) > yaw_limit_deg
        and np.sign(turn) == np.sign(yaw_deg)
    )


def plain_landmark_box(face: YuNetFace) -> tuple[float, float, float]:
    """The landmark box (centre x, centre y, larger side) in image pixels from the box alone."""
    return (
        face.x + face.w / 2.0,
        face.y + face.h / 2.0 + YUNET_SHIFT_Y * face.h,
        YUNET_LANDMARK_SCALE * max(face.w, face.h),
    )


@dataclass(frozen=True)
class CropCalibration:
    """A linear map from :meth:`features` (12,) to the landmark box, relative to YuNet's box:
    (centre x - box centre x) / s, (centre y - box centre y) / s and log(side / s), with s the
    larger side of YuNet's box. ``weights`` (12, 3); ``fitted_on`` says on what."""

    weights: np.ndarray
    fitted_on: str = ""

    @staticmethod
    def features(face: YuNetFace) -> np.ndarray:
        """(12,): 1, the five points relative to the box centre in box sides (10), w / h - 1."""
        side = max(face.w, face.h)
        centre = np.array([face.x + face.w / 2.0, face.y + face.h / 2.0])
        points = (np.asarray(face.keypoints, dtype=np.float64).reshape(5, 2) - centre) / side
        return np.concatenate([[1.0], points.ravel(), [face.w / face.h - 1.0]])

    def landmark_box(self, face: YuNetFace) -> tuple[float, float, float]:
        """The landmark box (centre x, centre y, larger side) in image pixels."""
        dx, dy, log_side = self.features(face) @ self.weights
        side = max(face.w, face.h)
        return (
            face.x + face.w / 2.0 + dx * side,
            face.y + face.h / 2.0 + dy * side,
            side * float(np.exp(log_side)),
        )

    @staticmethod
    def fit(
        faces: list[YuNetFace],
        landmark_boxes: np.ndarray,
        ridge: float = 1e-3,
        fitted_on: str = "",
    ) -> CropCalibration:
        """Least squares with a ridge on ``faces`` and their target landmark boxes (N, 3) of
        (centre x, centre y, larger side) in image pixels."""
        if len(faces) < 12:
            raise ValueError(f"need at least 12 faces to fit 12 weights, got {len(faces)}")
        x = np.stack([CropCalibration.features(f) for f in faces])
        sides = np.array([max(f.w, f.h) for f in faces])
        centres = np.array([[f.x + f.w / 2.0, f.y + f.h / 2.0] for f in faces])
        boxes = np.asarray(landmark_boxes, dtype=np.float64)
        y = np.column_stack(
            [(boxes[:, :2] - centres) / sides[:, None], np.log(boxes[:, 2] / sides)]
        )
        weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
        return CropCalibration(weights, fitted_on)

    def save(self, path: Path) -> None:
        from mtface.core.formats.atomic import atomic_write_json

        payload = {
            "format": CALIBRATION_FORMAT,
            "fitted_on": self.fitted_on,
            "weights": np.round(self.weights, 6).tolist(),
        }
        atomic_write_json(Path(path), payload)

    @staticmethod
    def load(path: Path) -> CropCalibration:
        """Read a calibration file; ValueError when it is not one."""
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
            if payload.get("format") != CALIBRATION_FORMAT:
                raise ValueError(f"format is not {CALIBRATION_FORMAT}")
            weights = np.asarray(payload["weights"], dtype=np.float64)
            if weights.shape != (12, 3) or not np.isfinite(weights).all():
                raise ValueError("weights must be 12 x 3 finite numbers")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"unusable YuNet crop calibration {path}: {exc}") from exc
        return CropCalibration(weights, str(payload.get("fitted_on", "")))


def as_blazeface_box(
    face: YuNetFace,
    calibration: CropCalibration | None,
    turn_limit: float,
    turned: CropCalibration | None = None,
) -> FaceBox:
    """The square box BlazeFace would give for ``face``'s landmark box: ``calibration``'s for
    near-frontal faces (``turn_ratio`` at most ``turn_limit``), ``turned``'s for the others
    (ADR 31), the plain geometry where the one that applies is None."""
    frontal = turn_ratio(face.keypoints) <= turn_limit
    chosen = calibration if frontal else turned
    if chosen is not None:
        cx, cy, landmark_side = chosen.landmark_box(face)
    else:
        cx, cy, landmark_side = plain_landmark_box(face)
    side = landmark_side / _BLAZEFACE_LANDMARK_SCALE
    cy -= _BLAZEFACE_SHIFT_Y * side
    return FaceBox(
        cx - side / 2,
        cy - side / 2,
        cx + side / 2,
        cy + side / 2,
        face.score,
        keypoints=np.asarray(face.keypoints, dtype=np.float32),
    )
