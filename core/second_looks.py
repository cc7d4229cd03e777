"""The predictor's second looks at the faces of one image, after the first fit of each box.

In the order ``Predictor.predict`` takes them: faces lying on their side tried from turned
crops (``--any-rotation``, ADR 35); turned faces whose box may be wrong fitted from the other
detectors' boxes (the second opinion, ADR 9 and 32); faces the cascade trusts little tried from
moved crops (ADR 37); settled detections the cascade trusts little searched again finer (ADR
39). Which crops and which fit to keep: core/crop_search.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mtface.core.crop_search import (
    RETRY_MARGIN,
    SHIFT_MARGIN,
    keep_better_boxes,
    keep_better_tries,
    low_confidence,
    second_opinion,
    shifted_tries,
    turned_tries,
)
from mtface.core.detection.chain import settled
from mtface.core.detection.choice import doubtful_box
from mtface.core.geometry import CropTransform
from mtface.core.types import Face, FaceBox

if TYPE_CHECKING:
    from mtface.core.predictor import Predictor


class SecondLooks:
    """The second looks of ``predictor`` at ``image`` (RGB uint8 (H, W, 3)); every fit made
    with the re-crop from landmarks when ``refine``. Each method returns a new list of faces."""

    def __init__(self, predictor: Predictor, image: np.ndarray, refine: bool) -> None:
        self.predictor = predictor
        self.image = image
        self.refine = refine

    def fit(self, boxes: list[FaceBox], crops: list[CropTransform]) -> list[Face]:
        """The faces of ``boxes`` from the given first ``crops``, in one batch."""
        return self.predictor.faces_from_crops(self.image, boxes, crops, self.refine)

    def fit_boxes(self, boxes: list[FaceBox]) -> list[Face]:
        """The faces of ``boxes`` from their own first crops, with no second looks of theirs."""
        return self.fit(boxes, [self.predictor.crop_from_box(b) for b in boxes])

    def turned(
        self, boxes: list[FaceBox], first_crops: list[CropTransform], faces: list[Face]
    ) -> list[Face]:
        """With ``retry_turns`` (``--any-rotation``) and turned crops on, faces the cascade
        trusts little tried again from their first crop turned (ADR 35; before the moved
        crops: a moved crop of an upright misreading can outscore it and keep the turned fit
        out, ADR 37)."""
        p = self.predictor
        if not p.retry_turns or not np.isfinite(p.roll_limit_deg):
            return faces
        tries = turned_tries(faces, first_crops, p.retry_turns)
        return keep_better_tries(faces, boxes, tries, self.fit, RETRY_MARGIN)

    def other_boxes(self, faces: list[Face], alternatives: list[FaceBox] | None) -> list[Face]:
        """``crop_search.second_opinion`` with the boxes the detectors left out for the faces
        already found (``alternatives``; without them, the detector's ``second_opinion``,
        BlazeFace in the default chain, is asked); other detectors: the faces as they are."""
        if not any(doubtful_box(f) for f in faces):
            return faces
        if alternatives is None:
            second = getattr(self.predictor.detector, "second_opinion", None)
            if second is None:
                return faces
            alternatives = second.detect(self.image)
        return second_opinion(faces, alternatives, self.fit_boxes)

    def moved(self, faces: list[Face]) -> list[Face]:
        """Faces the cascade trusts little tried again from the first crop of their (final)
        box moved by the predictor's ``shift_steps`` either way (ADR 37)."""
        if not low_confidence(faces) or not self.predictor.shift_steps:
            return faces  # most photos: no crop built for nothing
        boxes = [f.box for f in faces]
        crops = [self.predictor.crop_from_box(b) for b in boxes]
        tries = shifted_tries(faces, crops, self.predictor.shift_steps)
        return keep_better_tries(
            faces, boxes, tries, self.fit, SHIFT_MARGIN, at_least_as_turned=True
        )

    def finer(self, faces: list[Face]) -> list[Face]:
        """Faces the detector took as settled (``chain.settled``: near-frontal five points, a
        high score; YuNet's coarse answer stands for those) but the cascade trusts little,
        fitted again from the boxes the predictor's ``fine_detector`` finds on them; the most
        confident fit replaces the face when its confidence is higher by more than
        ``RETRY_MARGIN`` (a coarse box over two heads that touch, ADR 39)."""
        low = [i for i in low_confidence(faces) if settled(faces[i].box)]
        fine = self.predictor.fine_detector if low else None
        if fine is None:
            return faces
        found = fine.detect(self.image)
        return keep_better_boxes(faces, low, found, self.fit_boxes, margin=RETRY_MARGIN)
