"""The default detector chain: YuNet, then every other detector where a face may be missing.

``FallbackDetector`` (the chain before issue 19) returned the first detector's answer whenever it
had a face, so a profile beside a frontal neighbour (or behind a face in the background) was
never looked for by the later detectors. :class:`MergingDetector` asks the later detectors too
whenever the first answer is not settled (a face that looks turned or weakly detected, or no
face), and adds each face they find that is not already found; the second opinion's boxes of
faces already found are offered to the predictor as alternatives, among which the cascade's own
fit decides (docs/adr/0032-merging-detector-chain.md). Photos whose faces are all near-frontal
and confidently found keep the first detector's answer and its cost
(docs/adr/0013-still-image-cost.md), plus the faces YuNet's coarse search scored too low to
keep (a profile beside a frontal face), which cost no extra search and which the predictor
keeps only where the cascade's fit is confident (ADR 32 addendum).
"""

from __future__ import annotations

import numpy as np

from mtface.core.detection import Detector
from mtface.core.detection.yunet_crop import TURN_LIMIT, turn_ratio
from mtface.core.types import Face, FaceBox

#: A face is settled (the later detectors are not asked) when its five points look
#: near-frontal (``turn_ratio`` at most ``yunet_crop.TURN_LIMIT``) and it scores at least this
#: (the coarse search's own limit, ``yunet.COARSE_MIN_SCORE``).
SETTLED_MIN_SCORE = 0.8
#: Two boxes are of one face when more than this share of the smaller lies in the other.
SAME_FACE_OVERLAP = 0.5


#: Detected boxes scoring below this are faint faces (the default chain's detectors keep faces
#: scoring 0.5 or more; ``YuNetDetector.detect_with_faint`` adds lower ones beside settled faces).
FAINT_BOX_SCORE = 0.5
#: A faint face is kept when its fit's ``Face.confidence`` is at least this: chosen on w300
#: training photos (none of 250 plain photos gained a face) and composites of them (a profile
#: beside a frontal face), docs/adr/0032-merging-detector-chain.md addendum.
FAINT_MIN_CONFIDENCE = 0.35
#: A face found only on the picture equalised (``Predictor(equalise_when_empty=True)``) is kept
#: when its fit's confidence is at least this: on w300 training photos painted faceless and made
#: faint (``tools/equalised_search_check.py``), 3 faces on 300 faceless pictures (12 with no
#: rule) and 109 of the 146 faint faces the plain search missed (ADR 37).
EQUALISED_MIN_CONFIDENCE = 0.30


def confirmed(face: Face, equalised: bool = False) -> bool:
    """False for a faint detected face (box score below ``FAINT_BOX_SCORE``) whose fit the
    cascade does not trust (``Face.confidence`` below ``FAINT_MIN_CONFIDENCE`` or none), and
    for a face found only on the picture equalised (``equalised``) whose confidence is below
    ``EQUALISED_MIN_CONFIDENCE``: the predictor drops such faces from a detected image's
    answer."""
    if equalised and (face.confidence is None or face.confidence < EQUALISED_MIN_CONFIDENCE):
        return False
    if face.box.score >= FAINT_BOX_SCORE:
        return True
    return face.confidence is not None and face.confidence >= FAINT_MIN_CONFIDENCE


def box_overlap(a: FaceBox, b: FaceBox) -> float:
    """Intersection over the smaller box's area, in [0, 1]: 1 when one box lies inside the
    other (the same face seen by two detectors, whatever their box sizes)."""
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    smaller = min(a.width * a.height, b.width * b.height)
    return float(ix * iy / smaller) if smaller > 0 else 0.0


def settled(face: FaceBox) -> bool:
    """True when a detected face needs no second look: five points that look near-frontal
    and a score of at least ``SETTLED_MIN_SCORE``. Boxes without five points are not settled."""
    return face.score >= SETTLED_MIN_SCORE and turn_ratio(face.keypoints) <= TURN_LIMIT


class MergingDetector:
    """detect(image RGB uint8 (H, W, 3)) -> list[FaceBox]: the first detector's faces, then
    (unless every one of them is ``settled``) each face of the later detectors, in order, that
    overlaps no face already kept by more than ``same_face_overlap`` (``box_overlap``); when
    all are settled, the first detector's faint faces off every kept face instead.

    ``second_opinion``: a detector the predictor asks again where a face's box looks wrong
    (core/predictor.py). ``only_when_none_found`` / ``only_when_some_found``: later detectors
    asked only when the first detector found no face / some face (the default chain's enlarged
    search at two scales, ADR 41)."""

    def __init__(
        self,
        detectors: list[Detector],
        second_opinion: Detector | None = None,
        same_face_overlap: float = SAME_FACE_OVERLAP,
        only_when_none_found: list[Detector] | None = None,
        only_when_some_found: list[Detector] | None = None,
    ) -> None:
        if not detectors:
            raise ValueError("MergingDetector needs at least one detector")
        self.detectors = detectors
        self.second_opinion = second_opinion
        self.same_face_overlap = same_face_overlap
        self.only_when_none_found = list(only_when_none_found or [])
        self.only_when_some_found = list(only_when_some_found or [])

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        return self.detect_with_alternatives(image)[0]

    def finer(self) -> MergingDetector | None:
        """This chain with its first detector's coarse search left out (its ``finer()``), for
        a second look at a settled detection (ADR 39); None when the first has no coarser
        form."""
        finer = getattr(self.detectors[0], "finer", None)
        first = finer() if finer is not None else None
        if first is None:
            return None
        return MergingDetector(
            [first, *self.detectors[1:]],
            self.second_opinion,
            self.same_face_overlap,
            self.only_when_none_found,
            self.only_when_some_found,
        )

    def detect_with_alternatives(self, image: np.ndarray) -> tuple[list[FaceBox], list[FaceBox]]:
        """(faces, alternatives): ``detect``'s faces and the ``second_opinion``'s faces that were
        left out because they lie on a face already kept (other boxes of the same people,
        among which the predictor lets the cascade's fit decide, ADR 32); no alternatives
        when the first answer is settled (the later detectors are not run): then the first
        detector's *faint* faces (``detect_with_faint``: YuNet's coarse answers scoring below
        its threshold, at no extra search) that overlap no kept face are added, and the
        predictor keeps them only where the cascade's fit is confident (ADR 32 addendum).
        Detectors in ``only_when_none_found`` are skipped when the first detector found a face,
        those in ``only_when_some_found`` when it found none. The enlarged
        search's boxes are not offered: on aflw2000_3d_val, choosing among them by the
        confidence picked worse fits (ADR 32)."""
        first = self.detectors[0]
        with_faint = getattr(first, "detect_with_faint", None)
        faces, faint = with_faint(image) if with_faint is not None else (first.detect(image), [])
        faces = list(faces)
        if faces and all(settled(f) for f in faces):
            for candidate in faint:
                if all(box_overlap(candidate, f) <= self.same_face_overlap for f in faces):
                    faces.append(candidate)
            return faces, []
        alternatives: list[FaceBox] = []
        skipped = self.only_when_none_found if faces else self.only_when_some_found
        for detector in self.detectors[1:]:
            if any(detector is d for d in skipped):
                continue
            for candidate in detector.detect(image):
                if all(box_overlap(candidate, f) <= self.same_face_overlap for f in faces):
                    faces.append(candidate)
                elif detector is self.second_opinion:
                    alternatives.append(candidate)
        return faces, alternatives
