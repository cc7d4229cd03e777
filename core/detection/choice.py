"""Choosing among boxes and fits of one person on the detector path (ADR 9's second opinion,
ADR 32's merging chain): which other detector's box is the same face, which detected face is
worth a second look, and which of two fits of one person the cascade trusts more. Used by
core/predictor.py."""

from __future__ import annotations

import numpy as np

from mtface.core.detection import Detector
from mtface.core.detection.chain import SAME_FACE_OVERLAP, box_overlap
from mtface.core.detection.yunet_crop import TURN_LIMIT, turn_ratio
from mtface.core.types import Face, FaceBox


def nearest_box(candidates: list[FaceBox], box: FaceBox) -> FaceBox | None:
    """The candidate whose centre is nearest ``box``'s, if it lies within ``box``'s larger side
    of it (the same face seen by another detector); None otherwise."""
    centre = np.array([(box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0])
    best, best_distance = None, max(box.width, box.height)
    for candidate in candidates:
        distance = float(
            np.hypot(
                (candidate.x0 + candidate.x1) / 2.0 - centre[0],
                (candidate.y0 + candidate.y1) / 2.0 - centre[1],
            )
        )
        if distance < best_distance:
            best, best_distance = candidate, distance
    return best


def detect_with_alternatives(
    detector: Detector, image: np.ndarray
) -> tuple[list[FaceBox], list[FaceBox] | None]:
    """A detector's faces and, when it gives them (``MergingDetector``), the other boxes its
    later detectors found on the same people; None: it gives none."""
    both = getattr(detector, "detect_with_alternatives", None)
    if both is not None:
        return both(image)
    return detector.detect(image), None


def same_person(candidate: FaceBox, box: FaceBox) -> bool:
    """True when ``candidate`` is another detector's box of ``box``'s face: more than half of
    the smaller box lies in the other (``chain.box_overlap``, the merging rule); a neighbour's
    box beside it is not (the centre distance of ``nearest_box`` took a frontal neighbour's)."""
    return box_overlap(candidate, box) > SAME_FACE_OVERLAP


def doubtful_box(face: Face) -> bool:
    """A detected face worth a second opinion: its five points look turned (``turn_ratio``
    above ``TURN_LIMIT``; inf without five points, which is not doubted)."""
    turn = turn_ratio(face.box.keypoints)
    return bool(np.isfinite(turn) and turn > TURN_LIMIT)


def better_fit(candidate: Face, current: Face, margin: float = 0.0) -> bool:
    """True when the cascade's own reconstruction trusts ``candidate`` more than ``current``
    (two fits of one person from different crops): a ``Face.confidence`` higher by more than
    ``margin`` (its fit agrees with its mirror and across its stages, core/confidence.py).
    Unscored faces never replace."""
    if candidate.confidence is None or current.confidence is None:
        return False
    return candidate.confidence > current.confidence + margin
