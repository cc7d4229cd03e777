"""How much to trust a predicted face: one value, ``Face.confidence``, that ``mtface predict``
writes into its JSON, ``mtface annotate`` into every annotation file and the studio ranks its
review queue by (worst faces first). The predictor computes it once per face (ADR 29).

Two disagreements, each normalised by the face size (sqrt(w*h) of the landmark box):

* image vs mirror: the face's final crop and its mirror image go through stage 1; the
  mirrored result is flipped back (x and the left/right landmark order) and compared. A model
  that is sure of a face gives the same points both ways. One extra stage-1 pass per face
  (stage 2's patch features, most of the cascade's cost, are not run on the mirror).
* stage 1 vs the last stage (free): the last stage refines stage 1 with features around stage
  1's points; on hard faces it moves them more.

They are summed in units of their medians on ordinary faces (``HALF_CONFIDENCE_*``) with the
stage term weighted by ``STAGE_WEIGHT`` and mapped to 1 / (1 + d / d_half) in (0, 1]. Chosen on
training-side data (w300 training photos and synthetic large-pose views of them through the
detector path); it tells faces with NME > 10 % from the rest (AUROC, ``mtface evaluate``).
Faces the predictor did not score (a fake predictor's, a face rebuilt from a person's
corrections) fall back to the stage disagreement alone. No Qt, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mtface.core.types import Face

#: The disagreements (fractions of the face size) at which each part of the confidence is 0.5:
#: their medians on 400 w300 training photos through the detector path
#: (tools/calibrate_visibility.py: stage-1 mirror 0.0186, stages 0.0216), so about half of
#: ordinary faces score above 0.5.
HALF_CONFIDENCE_MIRROR = 0.019
HALF_CONFIDENCE_STAGES = 0.020

#: Faces below this confidence are offered first for review ("low confidence" filter). Chosen on
#: training-side data only (tools/calibrate_visibility.py: 400 w300 training photos and 397
#: synthetic large-pose views of them, 29 faces above 10 % NME): below 0.35 lie 79 % of those
#: failures and 6.5 % of the other faces (1.5 % of the photos); 0.5, the median, flagged 67 %
#: of the faces that were fine (ADR 29).
LOW_CONFIDENCE = 0.35


def face_size(landmarks_2d: np.ndarray) -> float:
    """sqrt(width * height) of the landmark box (pixels), at least 1."""
    pts = np.asarray(landmarks_2d, dtype=np.float64)[:, :2]
    w, h = np.ptp(pts[:, 0]), np.ptp(pts[:, 1])
    return max(math.sqrt(max(w, 0.0) * max(h, 0.0)), 1.0)


def landmark_disagreement(a: np.ndarray, b: np.ndarray, size: float) -> float:
    """Mean point-to-point distance of two (N, >=2) landmark sets, divided by ``size``."""
    a2 = np.asarray(a, dtype=np.float64)[:, :2]
    b2 = np.asarray(b, dtype=np.float64)[:, :2]
    return float(np.linalg.norm(a2 - b2, axis=1).mean() / max(size, 1e-9))


def stage_disagreement(face: Face) -> float | None:
    """Disagreement of the first and the last stage's 2D landmarks, as a fraction of the face
    size; None when the face has fewer than two stages."""
    if len(face.stages) < 2:
        return None
    first, last = face.stages[0].landmarks, face.stages[-1].landmarks
    return landmark_disagreement(first, last, face_size(last))


def confidence_from_disagreement(disagreement: float, half: float) -> float:
    """Map a disagreement (>= 0) to a confidence in (0, 1]: 1 at 0, 0.5 at ``half``,
    decreasing monotonically (ranks are kept)."""
    return float(1.0 / (1.0 + max(disagreement, 0.0) / half))


def face_confidence(face: Face) -> float | None:
    """The confidence of a predicted face in (0, 1]: the predictor's (``Face.confidence``, the
    one definition everything reports) when it computed one, else the stage-1 / stage-2
    fallback; None for a face with neither."""
    if face.confidence is not None:
        return float(face.confidence)
    d = stage_disagreement(face)
    return None if d is None else confidence_from_disagreement(d, HALF_CONFIDENCE_STAGES)


@dataclass(frozen=True)
class ConfidenceEvidence:
    """What the predictor's confidence of one face is made of.

    mirror: mean distance of stage 1's keypoints on the final crop and on its mirror image
    (flipped back), fraction of the face size; stages: the same for the first and the last
    stage; mirror_yaw: |stage 1's yaw + that of the mirror image| (degrees; 0 when the two
    agree); box: how far the
    fit's own training crop lies from the first crop made from the detector's box
    (``crop_change``: centre shift or side change, fraction of the side).
    """

    mirror: float
    stages: float
    mirror_yaw: float
    box: float


def crop_evidence(
    stage_keypoints: np.ndarray,
    mirrored_keypoints: np.ndarray,
    yaw: float,
    mirrored_yaw: float,
    crop_size: int,
    flip_permutation: np.ndarray,
    box_change: float,
) -> ConfidenceEvidence:
    """The evidence of one face from its cascade outputs in crop pixels: ``stage_keypoints``
    (stages, 68, >=2) of its final crop, ``mirrored_keypoints`` (68, >=2) stage 1 on the
    mirrored crop (as predicted, not flipped back), the two stage-1 yaws (degrees) and
    ``box_change``."""
    stages = np.asarray(stage_keypoints, dtype=np.float64)[:, :, :2]
    size = face_size(stages[-1])
    back = unmirror(np.asarray(mirrored_keypoints)[:, :2], crop_size, flip_permutation)
    return ConfidenceEvidence(
        mirror=landmark_disagreement(stages[0], back, size),
        stages=landmark_disagreement(stages[0], stages[-1], size),
        mirror_yaw=abs(float(yaw) + float(mirrored_yaw)),
        box=float(box_change),
    )


#: Weight of the stage disagreement beside the mirror's (each in units of its half-confidence
#: value). Chosen on training-side data only (tools/calibrate_visibility.py: 400 w300 training
#: photos and 397 synthetic large-pose views of them, detector path; 32 faces above 10 % NME):
#: AUROC for NME > 10 % 0.926 with the stage-1 mirror alone, 0.941 with this weight (0.938 at
#: 0.25, 0.937 at 1.0). The mirror through the whole cascade scored 0.975 but costs a second
#: stage 2 (ADR 29).
STAGE_WEIGHT = 0.5


def confidence_from_evidence(evidence: ConfidenceEvidence) -> float:
    """The predictor's confidence in (0, 1] (``Face.confidence``, ADR 29): the image-vs-mirror
    and the stage-1-vs-last disagreements, each divided by its half-confidence value, summed
    with ``STAGE_WEIGHT`` and mapped by ``confidence_from_disagreement`` so that a face at both
    medians scores 0.5."""
    d = (
        evidence.mirror / HALF_CONFIDENCE_MIRROR
        + STAGE_WEIGHT * evidence.stages / HALF_CONFIDENCE_STAGES
    )
    return confidence_from_disagreement(d, 1.0 + STAGE_WEIGHT)


def unmirror(points: np.ndarray, width: float, flip_permutation: np.ndarray) -> np.ndarray:
    """Points predicted on a mirrored image of ``width`` pixels, back in the original image:
    x -> width - 1 - x and the left/right landmark order swapped."""
    out = np.asarray(points, dtype=np.float64).copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out[np.asarray(flip_permutation)]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("spearman needs two sequences of the same length >= 2")

    def ranks(v: np.ndarray) -> np.ndarray:
        _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        end = np.cumsum(counts)
        return ((end - counts + end - 1) / 2.0)[inverse]

    rx, ry = ranks(x), ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denom) if denom > 0 else 0.0
