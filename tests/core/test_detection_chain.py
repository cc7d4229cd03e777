"""The merging detector chain, the turned faces' first crop and the cascade choosing among boxes
of one person (core/detection/chain.py, core/detection/yunet_crop.py, ADR 31-33)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mtface.core.detection.chain import (
    SETTLED_MIN_SCORE,
    MergingDetector,
    box_overlap,
    settled,
)
from mtface.core.detection.yunet_crop import (
    CropCalibration,
    YuNetFace,
    as_blazeface_box,
    plain_landmark_box,
)
from mtface.core.types import Face, FaceBox, Pose

FRONTAL = np.array([[40.0, 40.0], [60.0, 40.0], [50.0, 50.0], [42.0, 60.0], [58.0, 60.0]])
TURNED = FRONTAL.copy()
TURNED[2] = [66.0, 50.0]  # nose beyond the left eye: turn ratio 0.8


class Fixed:
    """A detector that always gives ``boxes`` and counts its calls."""

    def __init__(self, boxes: list[FaceBox]) -> None:
        self.boxes, self.calls = boxes, 0

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        self.calls += 1
        return list(self.boxes)


IMAGE = np.zeros((8, 8, 3), np.uint8)


# --- merging ----------------------------------------------------------------------------------


def test_box_overlap_numerical_values():
    a = FaceBox(0.0, 0.0, 100.0, 100.0)
    assert box_overlap(a, a) == pytest.approx(1.0)
    assert box_overlap(a, FaceBox(50.0, 0.0, 150.0, 100.0)) == pytest.approx(0.5)
    assert box_overlap(a, FaceBox(25.0, 25.0, 75.0, 75.0)) == pytest.approx(1.0)  # inside
    assert box_overlap(a, FaceBox(200.0, 0.0, 300.0, 100.0)) == 0.0
    assert box_overlap(a, FaceBox(10.0, 10.0, 10.0, 10.0)) == 0.0  # empty box


def test_settled_needs_five_frontal_points_and_a_training_like_score():
    assert settled(FaceBox(0, 0, 9, 9, SETTLED_MIN_SCORE, keypoints=FRONTAL))
    assert not settled(FaceBox(0, 0, 9, 9, SETTLED_MIN_SCORE - 0.01, keypoints=FRONTAL))
    assert not settled(FaceBox(0, 0, 9, 9, 0.99, keypoints=TURNED))
    assert not settled(FaceBox(0, 0, 9, 9, 0.99))  # BlazeFace's or a caller's box


def test_a_settled_answer_asks_no_later_detector():
    first = Fixed([FaceBox(0, 0, 100, 100, 0.95, keypoints=FRONTAL)])
    later = Fixed([FaceBox(300, 0, 400, 100, 0.9)])
    chain = MergingDetector([first, later], second_opinion=later)
    assert chain.detect_with_alternatives(IMAGE) == (first.boxes, [])
    assert later.calls == 0


def test_a_profile_beside_an_unsettled_face_is_added_and_duplicates_are_alternatives():
    """Failure kind (a): the later detectors' faces off every kept face are added; those on a
    kept face are the second opinion's alternatives (the enlarged search's are dropped)."""
    turned = FaceBox(0, 0, 100, 100, 0.9, keypoints=TURNED)
    first = Fixed([turned])
    enlarged = Fixed([FaceBox(5, 5, 95, 95, 0.8), FaceBox(500, 0, 600, 100, 0.7)])
    blaze_same, blaze_profile = FaceBox(10, 0, 110, 100, 0.8), FaceBox(300, 0, 400, 100, 0.7)
    blaze = Fixed([blaze_same, blaze_profile])
    chain = MergingDetector([first, enlarged, blaze], second_opinion=blaze)
    faces, alternatives = chain.detect_with_alternatives(IMAGE)
    assert faces == [turned, enlarged.boxes[1], blaze_profile]
    assert alternatives == [blaze_same]
    assert chain.detect(IMAGE) == faces


def test_a_detector_asked_only_when_none_was_found_is_skipped_beside_a_face():
    """ADR 41: one enlarged search where the first detector found nothing, another beside
    the faces it found (turned or weak); whether the first found a face decides, not what the
    later ones added."""
    turned = FaceBox(0, 0, 100, 100, 0.9, keypoints=TURNED)
    enlarged = Fixed([FaceBox(500, 0, 600, 100, 0.7)])
    beside = Fixed([FaceBox(600, 0, 700, 100, 0.7)])
    blaze = Fixed([FaceBox(300, 0, 400, 100, 0.7)])

    def chain(first: list[FaceBox]) -> MergingDetector:
        return MergingDetector(
            [Fixed(first), enlarged, beside, blaze],
            second_opinion=blaze,
            only_when_none_found=[enlarged],
            only_when_some_found=[beside],
        )

    assert chain([turned]).detect(IMAGE) == [turned, beside.boxes[0], blaze.boxes[0]]
    assert (enlarged.calls, beside.calls, blaze.calls) == (0, 1, 1)
    assert chain([]).detect(IMAGE) == [enlarged.boxes[0], blaze.boxes[0]]
    assert (enlarged.calls, beside.calls, blaze.calls) == (1, 1, 2)


def test_no_first_face_takes_the_later_ones():
    later = Fixed([FaceBox(0, 0, 10, 10, 0.7)])
    assert MergingDetector([Fixed([]), later]).detect(IMAGE) == later.boxes
    with pytest.raises(ValueError):
        MergingDetector([])


def test_the_default_chain_merges():
    pytest.importorskip("yuface")
    from mtface.core.detection.yunet import FallbackDetector, default_detector

    chain = default_detector()
    assert isinstance(chain, MergingDetector)
    enlarged, beside = chain.detectors[1:3]
    assert (enlarged.upscale, beside.upscale) == (2.0, 1.5)
    assert chain.only_when_none_found == [enlarged] and chain.only_when_some_found == [beside]
    assert enlarged.second_side / enlarged.upscale == beside.second_side / beside.upscale == 640
    finer = chain.finer()  # ADR 39's finer search keeps the rule
    assert (finer.only_when_none_found, finer.only_when_some_found) == ([enlarged], [beside])
    assert isinstance(default_detector(merge=False), FallbackDetector)


# --- the turned faces' first crop -------------------------------------------------------------


def test_turned_faces_take_the_turned_calibration():
    shift = np.zeros((12, 3))
    shift[0] = [-0.2, 0.0, 0.0]  # centre 0.2 box sides to the left, side = the box's
    turned_cal, frontal_cal = CropCalibration(shift), CropCalibration(np.zeros((12, 3)))
    face = YuNetFace(20.0, 15.0, 60.0, 70.0, 0.9, TURNED)
    box = as_blazeface_box(face, frontal_cal, 0.25, turned_cal)
    assert (box.x0 + box.x1) / 2 == pytest.approx(50.0 - 0.2 * 70.0)
    assert box.width == pytest.approx(70.0 / 0.881)
    cx, _, side = plain_landmark_box(face)  # without a turned calibration: the plain geometry
    plain = as_blazeface_box(face, frontal_cal, 0.25)
    assert (plain.x0 + plain.x1) / 2 == pytest.approx(cx)
    frontal = YuNetFace(20.0, 15.0, 60.0, 70.0, 0.9, FRONTAL)
    assert as_blazeface_box(frontal, frontal_cal, 0.25, turned_cal).as_tuple() == pytest.approx(
        as_blazeface_box(frontal, frontal_cal, 0.25).as_tuple()
    )


def test_the_shipped_turned_calibration_moves_a_profiles_crop_towards_its_face():
    """A profile looking to the image's left (nose left of both eyes): its box holds hair and
    ear on the right, so the crop moves left of the box centre and grows; the mirrored profile
    moves the same amount to the right (the fit saw every view mirrored too)."""
    from mtface.core.detection.yunet import TURNED_CALIBRATION, default_calibration

    calibration = default_calibration(TURNED_CALIBRATION)
    points = np.array([[150, 140], [175, 140], [125, 165], [150, 185], [170, 185]], float)
    face = YuNetFace(100.0, 100.0, 100.0, 120.0, 0.9, points)
    cx, cy, side = calibration.landmark_box(face)
    plain_cx, _, plain_side = plain_landmark_box(face)
    assert cx < plain_cx - 10.0 and side > plain_side
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    from calibrate_turned_crop import mirrored

    flipped, _ = mirrored(face, np.zeros(3), 400.0)
    mx, my, mside = calibration.landmark_box(flipped)
    assert (399.0 - mx, my, mside) == pytest.approx((cx, cy, side), abs=0.05)


def test_mirrored_views_swap_the_sides_and_the_target():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    from calibrate_turned_crop import mirrored

    face = YuNetFace(10.0, 5.0, 30.0, 40.0, 0.9, TURNED)
    flipped, target = mirrored(face, np.array([20.0, 25.0, 30.0]), 100.0)
    assert (flipped.x, flipped.y, flipped.w, flipped.h) == (59.0, 5.0, 30.0, 40.0)
    np.testing.assert_allclose(flipped.keypoints[0], [99.0 - 60.0, 40.0])  # the old left eye
    np.testing.assert_allclose(flipped.keypoints[2], [99.0 - 66.0, 50.0])
    np.testing.assert_allclose(target, [79.0, 25.0, 30.0])


# --- the cascade decides ----------------------------------------------------------------------


def face_of(box: FaceBox, confidence: float | None) -> Face:
    return Face(
        box=box,
        vertices=np.zeros((3, 3), np.float32),
        landmarks=np.zeros((68, 3), np.float32),
        visible=np.ones(68, bool),
        pose=Pose(0.0, 0.0, 0.0),
        confidence=confidence,
    )


def test_same_person_doubt_and_better_fit():
    from mtface.core.detection.choice import better_fit, doubtful_box, same_person

    box = FaceBox(100.0, 100.0, 200.0, 200.0)
    assert same_person(FaceBox(110.0, 95.0, 215.0, 205.0), box)
    # a frontal neighbour whose centre lies within the box's side, but beside it
    assert not same_person(FaceBox(30.0, 180.0, 130.0, 280.0), box)
    assert doubtful_box(face_of(FaceBox(0, 0, 9, 9, keypoints=TURNED), 0.5))
    assert not doubtful_box(face_of(FaceBox(0, 0, 9, 9, keypoints=FRONTAL), 0.5))
    assert not doubtful_box(face_of(FaceBox(0, 0, 9, 9), 0.5))  # no five points
    assert better_fit(face_of(box, 0.6), face_of(box, 0.5))
    assert not better_fit(face_of(box, 0.4), face_of(box, 0.5))
    assert not better_fit(face_of(box, None), face_of(box, 0.5))
    assert not better_fit(face_of(box, 0.55), face_of(box, 0.5), margin=0.1)  # a hair above
    assert better_fit(face_of(box, 0.65), face_of(box, 0.5), margin=0.1)


def test_the_predictor_keeps_the_fit_it_trusts_most(sample_image, monkeypatch):
    """A turned face with an alternative box of the same person from the merging chain: the
    fit with the higher confidence is kept; a frontal face is not looked at again."""
    from mtface.core import crop_search
    from mtface.core.predictor import Predictor

    turned = FaceBox(190.0, 70.0, 310.0, 200.0, 0.9, keypoints=TURNED)
    other = FaceBox(200.0, 80.0, 300.0, 190.0, 0.8)

    class Chain:
        def __init__(self, box: FaceBox) -> None:
            self.box, self.alternatives = box, [other]

        def detect(self, image: np.ndarray) -> list[FaceBox]:
            return [self.box]

        def detect_with_alternatives(self, image: np.ndarray):
            return [self.box], list(self.alternatives)

    predictor = Predictor.from_weights(detector=Chain(turned), shift_steps=())
    monkeypatch.setattr(crop_search, "better_fit", lambda *args: True)
    assert predictor.predict(sample_image).faces[0].box is other
    monkeypatch.setattr(crop_search, "better_fit", lambda *args: False)
    assert predictor.predict(sample_image).faces[0].box is turned
    frontal = FaceBox(190.0, 70.0, 310.0, 200.0, 0.9, keypoints=FRONTAL)
    monkeypatch.setattr(crop_search, "better_fit", lambda *args: True)
    assert (
        Predictor.from_weights(detector=Chain(frontal), shift_steps=())
        .predict(sample_image)
        .faces[0]
        .box
        is frontal
    )
