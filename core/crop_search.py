"""Other first crops for a face the cascade trusts little, and the choice among their fits.

A face found from a detector box whose confidence is low is tried again from other first crops:
moved along the crop's x axis (a profile's box on the back of the head, ADR 37), turned a
quarter either way with ``--any-rotation`` (a face lying on its side, ADR 35), or cropped from
the other detectors' boxes of the same person (the second opinion, ADR 9 and 32). The crops are
pure functions of a :class:`CropTransform`; the fits come from a ``Refit`` callback (the
predictor's cascade on one image), and the cascade's own confidence decides (``better_fit``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mtface.core.confidence import LOW_CONFIDENCE
from mtface.core.detection.choice import better_fit, doubtful_box, same_person
from mtface.core.detection.yunet_crop import turned_the_other_way
from mtface.core.geometry import CropTransform, box_of_points
from mtface.core.types import Face, FaceBox

#: The turns (radians) of a low-confidence face's first crop tried again with ``--any-rotation``
#: (ADR 35): a quarter either way.
RETRY_TURNS: tuple[float, ...] = (np.pi / 2, -np.pi / 2)
#: How much more a turned retry's confidence must be to replace the face (ADR 35): on profiles
#: a turned reading sometimes scores a hair above a good fit. The finer search's boxes (ADR 39)
#: must beat a face by as much.
RETRY_MARGIN = 0.10
#: The moves (fractions of the crop's side, either way along its x axis) of a low-confidence
#: face's first crop tried again, and the margin a try's confidence must beat the face's by
#: (ADR 37 and its addendum): chosen on large-pose views of held-out w300 photos
#: (``tools/shift_retry_sweep.py``).
SHIFT_STEPS: tuple[float, ...] = (0.1, 0.2)
SHIFT_MARGIN = 0.03

#: (boxes, their first crops) -> the faces the cascade fits from those crops, in order.
Refit = Callable[[list[FaceBox], list[CropTransform]], list[Face]]
#: A face's index and another first crop for it.
Try = tuple[int, CropTransform]


def turned_crops(crop: CropTransform, turns: tuple[float, ...]) -> list[CropTransform]:
    """``crop`` turned about its centre by each of ``turns`` (radians), same side and size."""
    return [
        CropTransform.about_centre(*crop.centre, crop.side, crop.size, crop.angle + turn)
        for turn in turns
    ]


def shifted_crops(
    crop: CropTransform, direction: float, steps: tuple[float, ...]
) -> list[CropTransform]:
    """``crop`` moved along its own x axis by each of ``steps`` (fractions of the crop's side),
    toward +x for ``direction`` > 0 and toward -x for < 0 (none for 0); same side, angle and
    size."""
    sign = float(np.sign(direction))
    if sign == 0.0:
        return []
    axis = np.array([np.cos(crop.angle), np.sin(crop.angle)])
    return [
        CropTransform.about_centre(
            *(crop.centre + sign * step * crop.side * axis), crop.side, crop.size, crop.angle
        )
        for step in steps
    ]


def low_confidence(faces: list[Face]) -> list[int]:
    """Indices of the faces the cascade trusts little (confidence below ``LOW_CONFIDENCE``)."""
    return [
        i for i, f in enumerate(faces) if f.confidence is not None and f.confidence < LOW_CONFIDENCE
    ]


def shifted_tries(
    faces: list[Face], first_crops: list[CropTransform], steps: tuple[float, ...]
) -> list[Try]:
    """Each low-confidence face's first crop moved by ``steps`` either way (ADR 37)."""
    return [
        (i, tf)
        for i in low_confidence(faces)
        for direction in (1.0, -1.0)
        for tf in shifted_crops(first_crops[i], direction, steps)
    ]


def turned_tries(
    faces: list[Face], first_crops: list[CropTransform], turns: tuple[float, ...]
) -> list[Try]:
    """Each low-confidence face's first crop turned by ``turns`` (ADR 35)."""
    return [(i, tf) for i in low_confidence(faces) for tf in turned_crops(first_crops[i], turns)]


def keep_better_tries(
    faces: list[Face],
    boxes: list[FaceBox],
    tries: list[Try],
    refit: Refit,
    margin: float,
    at_least_as_turned: bool = False,
) -> list[Face]:
    """``tries`` fitted in one batch (``refit``); for each face, the try with the highest
    confidence whose landmarks still lie on the face's box (``same_person``: a re-crop may drift
    to a neighbour) replaces the face when its confidence is higher by more than ``margin``
    (``better_fit``). ``at_least_as_turned``: only tries whose |yaw| is at least the face's
    count (a box on the back of a profile's head reads the face less turned than it is, ADR
    37). ``faces`` itself is not changed."""
    if not tries:
        return faces
    found = refit([boxes[i] for i, _ in tries], [tf for _, tf in tries])
    faces = list(faces)
    for i in dict.fromkeys(i for i, _ in tries):
        candidates = [
            f
            for (j, _), f in zip(tries, found)
            if j == i
            and same_person(FaceBox(*box_of_points(f.landmarks_2d)), boxes[i])
            and (not at_least_as_turned or abs(f.pose.yaw) >= abs(faces[i].pose.yaw))
        ]
        best = max(candidates, key=lambda f: f.confidence or 0.0, default=None)
        if best is not None and better_fit(best, faces[i], margin):
            faces[i] = best
    return faces


def keep_better_boxes(
    faces: list[Face],
    indices: list[int],
    alternatives: list[FaceBox],
    refit_boxes: Callable[[list[FaceBox]], list[Face]],
    replace_anyway: Callable[[Face], bool] = lambda face: False,
    margin: float = 0.0,
) -> list[Face]:
    """The faces at ``indices`` fitted again from the ``alternatives`` (other boxes) on the
    same person (``same_person``), in one batch (``refit_boxes``); the fit the cascade trusts
    most replaces a face when its confidence is higher by more than ``margin``
    (``better_fit``), or whatever its confidence when ``replace_anyway(face)``. ``faces``
    itself is not changed."""
    pairs = [(i, box) for i in indices for box in alternatives if same_person(box, faces[i].box)]
    if not pairs:
        return faces
    refits = refit_boxes([b for _, b in pairs])
    faces = list(faces)
    for i in dict.fromkeys(i for i, _ in pairs):
        found = [f for (j, _), f in zip(pairs, refits) if j == i]
        best = max(found, key=lambda f: -1.0 if f.confidence is None else f.confidence)
        if replace_anyway(faces[i]) or better_fit(best, faces[i], margin):
            faces[i] = best
    return faces


def second_opinion(
    faces: list[Face],
    alternatives: list[FaceBox],
    refit_boxes: Callable[[list[FaceBox]], list[Face]],
) -> list[Face]:
    """Faces whose detector box may be wrong (``doubtful_box``: turned faces) fitted again from
    the ``alternatives`` (other detectors' boxes) on the same person (``keep_better_boxes``;
    ADR 9 addendum, ADR 32). A face whose five points and predicted yaw turn opposite ways
    (``turned_the_other_way``: its box is on the back of the head) is replaced by its best
    alternative whatever its own confidence."""
    doubtful = [i for i, f in enumerate(faces) if doubtful_box(f)]
    return keep_better_boxes(
        faces,
        doubtful,
        alternatives,
        refit_boxes,
        lambda face: turned_the_other_way(face.box.keypoints, face.pose.yaw),
    )
