"""YuNet's coarse-to-fine search and the calibrated first crop (core/detection/yunet_crop.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtface.core.detection.yunet_crop import (
    CropCalibration,
    YuNetFace,
    as_blazeface_box,
    plain_landmark_box,
    signed_turn,
    turn_ratio,
    turned_the_other_way,
)

FRONTAL_POINTS = np.array([[40.0, 40.0], [60.0, 40.0], [50.0, 50.0], [42.0, 60.0], [58.0, 60.0]])


def face_with(points: np.ndarray, x: float = 20.0, w: float = 60.0, h: float = 70.0) -> YuNetFace:
    return YuNetFace(x, 15.0, w, h, 0.9, points)


# --- turn_ratio -------------------------------------------------------------------------------


def test_turn_ratio_numerical_values():
    assert turn_ratio(FRONTAL_POINTS) == pytest.approx(0.0)
    nose_under_right_eye = FRONTAL_POINTS.copy()
    nose_under_right_eye[2] = [40.0, 50.0]
    assert turn_ratio(nose_under_right_eye) == pytest.approx(0.5)
    beyond = FRONTAL_POINTS.copy()
    beyond[2] = [70.0, 50.0]  # past the left eye: a profile
    assert turn_ratio(beyond) == pytest.approx(1.0)


def test_turn_ratio_without_usable_points_is_infinite():
    assert turn_ratio(None) == float("inf")
    same_eyes = FRONTAL_POINTS.copy()
    same_eyes[1] = same_eyes[0]
    assert turn_ratio(same_eyes) == float("inf")


def test_signed_turn_says_which_way():
    towards_left_eye = FRONTAL_POINTS.copy()
    towards_left_eye[2] = [60.0, 50.0]
    towards_right_eye = FRONTAL_POINTS.copy()
    towards_right_eye[2] = [40.0, 50.0]
    assert signed_turn(towards_left_eye) == pytest.approx(0.5)
    assert signed_turn(towards_right_eye) == pytest.approx(-0.5)
    assert np.isnan(signed_turn(np.zeros((6, 2))))  # BlazeFace's six points are not YuNet's


def test_turned_the_other_way_needs_both_clearly_turned_and_opposed():
    profile = FRONTAL_POINTS.copy()
    profile[2] = [62.0, 50.0]  # signed turn +0.6: the cascade's yaw should be negative
    assert not turned_the_other_way(profile, -70.0)
    assert turned_the_other_way(profile, 70.0)
    assert not turned_the_other_way(profile, 20.0)  # the cascade sees a near-frontal face
    assert not turned_the_other_way(FRONTAL_POINTS, 70.0)  # the points see a frontal face
    assert not turned_the_other_way(None, 70.0)


# --- CropCalibration --------------------------------------------------------------------------


def random_faces(count: int, seed: int = 0) -> list[YuNetFace]:
    rng = np.random.default_rng(seed)
    return [
        YuNetFace(
            *rng.uniform(0, 200, 2),
            *rng.uniform(50, 90, 2),
            0.9,
            FRONTAL_POINTS + rng.normal(0, 4, (5, 2)),
        )
        for _ in range(count)
    ]


def test_calibration_fit_recovers_a_linear_map():
    rng = np.random.default_rng(1)
    truth = CropCalibration(rng.normal(0, 0.1, (12, 3)))
    faces = random_faces(60)
    boxes = np.array([truth.landmark_box(f) for f in faces])
    fitted = CropCalibration.fit(faces, boxes, ridge=1e-9)
    np.testing.assert_allclose(fitted.weights, truth.weights, atol=1e-5)
    np.testing.assert_allclose(fitted.landmark_box(faces[0]), boxes[0], rtol=1e-6)


def test_calibration_fit_needs_enough_faces():
    with pytest.raises(ValueError, match="at least 12"):
        CropCalibration.fit(random_faces(5), np.ones((5, 3)))


def test_calibration_round_trips_through_its_file(tmp_path):
    calibration = CropCalibration(np.arange(36.0).reshape(12, 3) / 100, "unit test")
    path = tmp_path / "crop.json"
    calibration.save(path)
    loaded = CropCalibration.load(path)
    np.testing.assert_allclose(loaded.weights, calibration.weights)
    assert loaded.fitted_on == "unit test"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"format": "something-else", "weights": [[0, 0, 0]] * 12}),
        json.dumps({"format": "mtface-yunet-crop-1", "weights": [[0, 0]] * 12}),
        json.dumps({"format": "mtface-yunet-crop-1", "weights": [[0, 0, float("nan")]] * 12}),
        json.dumps({"format": "mtface-yunet-crop-1"}),
        json.dumps([1, 2, 3]),
    ],
)
def test_malformed_calibration_files_are_refused(tmp_path, content):
    path = tmp_path / "crop.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="calibration"):
        CropCalibration.load(path)


def test_shipped_calibration_loads_and_an_unusable_one_is_reported(tmp_path, monkeypatch):
    from mtface.core import resources
    from mtface.core.detection.yunet import default_calibration
    from mtface.core.weights import WeightsError

    assert default_calibration().weights.shape == (12, 3)
    (tmp_path / "detector").mkdir()
    (tmp_path / "detector" / "yunet_crop.json").write_text("{truncated")
    monkeypatch.setattr(resources, "resource_path", lambda *parts: tmp_path.joinpath(*parts))
    with pytest.raises(WeightsError, match="calibration"):
        default_calibration()
    (tmp_path / "detector" / "yunet_crop.json").unlink()
    with pytest.raises(WeightsError, match="not found"):
        default_calibration()


# --- the first crop ---------------------------------------------------------------------------


def test_turned_faces_keep_the_plain_geometry_and_frontal_ones_are_calibrated():
    shift = np.zeros((12, 3))
    shift[0] = [0.1, 0.0, 0.0]  # centre 0.1 box sides to the right, side = the box's
    calibration = CropCalibration(shift)
    frontal = face_with(FRONTAL_POINTS)
    turned_points = FRONTAL_POINTS.copy()
    turned_points[2] = [66.0, 50.0]
    turned = face_with(turned_points)
    plain = as_blazeface_box(frontal, None, 0.25)
    calibrated = as_blazeface_box(frontal, calibration, 0.25)
    assert (calibrated.x0 + calibrated.x1) / 2 == pytest.approx((plain.x0 + plain.x1) / 2 + 7.0)
    assert (
        as_blazeface_box(turned, calibration, 0.25).as_tuple()
        == as_blazeface_box(turned, None, 0.25).as_tuple()
    )
    cx, _, side = plain_landmark_box(frontal)
    assert (plain.x0 + plain.x1) / 2 == pytest.approx(cx)
    assert plain.width == pytest.approx(side / 0.881)


# --- coarse to fine ---------------------------------------------------------------------------


class FakeYuNet:
    """Stands in for yuface.detect: a face (at 1/4 of the image) per searched side, as set."""

    def __init__(self, answers: dict[int, list[np.ndarray]], percent: float = 95.0) -> None:
        self.answers = answers
        self.percent = percent
        self.sides: list[int] = []

    def __call__(self, bgr: np.ndarray, conf: float = 0.5) -> tuple[list, list, list]:
        side = max(bgr.shape[:2])
        self.sides.append(side)
        found = self.answers.get(side, [])
        scale = side / 640.0
        boxes = [np.array([200, 120, 160, 180]) * scale for _ in found]
        points = [(pts * scale).ravel() for pts in found]
        return [self.percent] * len(found), boxes, points


def detector_with(fake: FakeYuNet, **kwargs: object):
    pytest.importorskip("yuface")
    from mtface.core.detection.yunet import YuNetDetector

    detector = YuNetDetector(calibration=None, **kwargs)
    detector._detect = fake  # noqa: SLF001 - the seam to yuface
    return detector


COARSE = 128  # yunet.FIRST_SIDE: the searches' sides are spelled out, as the detector promises
FRONTAL_640 = FRONTAL_POINTS * 4 + 100
TURNED_640 = FRONTAL_640.copy()
TURNED_640[2, 0] = FRONTAL_640[1, 0] + 10


def test_the_coarse_side_is_the_documented_one():
    from mtface.core.detection.yunet import FIRST_SIDE

    assert FIRST_SIDE == COARSE


def test_a_near_frontal_face_found_coarse_is_not_searched_again():
    fake = FakeYuNet({COARSE: [FRONTAL_640], 320: [FRONTAL_640]})
    faces = detector_with(fake).detect_faces(np.zeros((480, 640, 3), np.uint8))
    assert fake.sides == [COARSE] and len(faces) == 1
    assert faces[0].x == pytest.approx(200.0) and faces[0].w == pytest.approx(160.0)
    np.testing.assert_allclose(faces[0].keypoints, FRONTAL_640)


def test_turned_faces_and_misses_are_searched_finer():
    image = np.zeros((480, 640, 3), np.uint8)
    turned = FakeYuNet({COARSE: [TURNED_640], 320: [FRONTAL_640]})
    assert detector_with(turned).detect_faces(image)[0].keypoints[2, 0] == pytest.approx(300.0)
    assert turned.sides == [COARSE, 320]
    missed = FakeYuNet({640: [FRONTAL_640]})
    assert len(detector_with(missed).detect_faces(image)) == 1
    assert missed.sides == [COARSE, 320, 640]
    only_coarse = FakeYuNet({COARSE: [TURNED_640]})  # the finer searches find nothing
    assert len(detector_with(only_coarse).detect_faces(image)) == 1


def test_a_doubtful_coarse_detection_is_searched_finer():
    fake = FakeYuNet({COARSE: [FRONTAL_640], 320: [FRONTAL_640]}, percent=70.0)
    faces = detector_with(fake).detect_faces(np.zeros((480, 640, 3), np.uint8))
    assert fake.sides == [COARSE, 320] and faces[0].score == pytest.approx(0.7)


def test_small_faces_mode_skips_the_coarse_search():
    fake = FakeYuNet({COARSE: [FRONTAL_640], 320: [FRONTAL_640]})
    detector_with(fake, first_side=None).detect_faces(np.zeros((480, 640, 3), np.uint8))
    assert fake.sides == [320]


def test_a_last_side_equal_to_the_finer_one_is_searched_once():
    """The video chain's YuNet stops at 320 px: a frame without a face costs two searches."""
    fake = FakeYuNet({})
    assert (
        detector_with(fake, second_side=320).detect_faces(np.zeros((480, 640, 3), np.uint8)) == []
    )
    assert fake.sides == [COARSE, 320]


def test_cli_small_faces_option_builds_the_fine_detector():
    pytest.importorskip("yuface")
    import argparse

    from mtface.cli.main import _detector_for

    assert _detector_for(argparse.Namespace(small_faces=False)) is None
    chain = _detector_for(argparse.Namespace(small_faces=True))
    assert chain.detectors[0].first_side is None


def test_the_default_chain_enlarges_before_it_asks_blazeface():
    """YuNet, YuNet on the enlarged image (twice, or 1.5 times beside a found face: ADR 41),
    then BlazeFace (ADR 9, addendum on the order); BlazeFace also gives the second opinion."""
    pytest.importorskip("yuface")
    from mtface.core.detection.blazeface import BlazeFaceDetector
    from mtface.core.detection.yunet import YuNetDetector, default_detector

    chain = default_detector()
    first, enlarged, beside, last = chain.detectors
    assert isinstance(first, YuNetDetector) and first.upscale == 1.0
    assert isinstance(enlarged, YuNetDetector) and enlarged.upscale == 2.0
    assert isinstance(beside, YuNetDetector) and beside.upscale == 1.5
    assert isinstance(last, BlazeFaceDetector) and chain.second_opinion is last


def test_the_video_chain_has_no_enlarged_or_full_size_search():
    """The live tracker's chain (ADR 36): YuNet up to 320 px, then BlazeFace; a predictor
    without a caller detector gives it to the tracker, one with a caller detector that one."""
    pytest.importorskip("yuface")
    from mtface.core.detection.blazeface import BlazeFaceDetector
    from mtface.core.detection.yunet import MAX_SIDE, YuNetDetector, default_detector
    from mtface.core.predictor import Predictor

    chain = default_detector(video=True)
    first, last = chain.detectors
    assert isinstance(first, YuNetDetector) and first.upscale == 1.0
    assert first.second_side == first.max_side == MAX_SIDE
    assert isinstance(last, BlazeFaceDetector) and chain.second_opinion is last
    predictor = Predictor.from_weights()
    assert predictor.video_detector.detectors[0].second_side == MAX_SIDE
    assert len(predictor.detector.detectors) == 4  # still images keep the whole chain
    given = default_detector(merge=False)
    assert Predictor.from_weights(detector=given).video_detector is given


def test_the_finer_form_of_the_default_chain_skips_the_coarse_search():
    """ADR 39's second look: the same chain, its YuNet without the coarse first search; the
    small-faces chain (no coarse search) has no finer form."""
    pytest.importorskip("yuface")
    from mtface.core.detection.yunet import default_detector
    from mtface.core.predictor import Predictor

    chain = default_detector()
    fine = chain.finer()
    assert fine.detectors[0].first_side is None and chain.detectors[0].first_side == COARSE
    assert fine.detectors[0].calibration is chain.detectors[0].calibration
    assert fine.detectors[1:] == chain.detectors[1:] and fine.second_opinion is chain.second_opinion
    assert default_detector(small_faces=True).finer() is None
    assert Predictor.from_weights(detector=chain).fine_detector.detectors[0].first_side is None
    assert Predictor.from_weights(search_finer=False).fine_detector is None


def test_cli_predict_with_small_faces_finds_the_sample_face(tmp_path):
    pytest.importorskip("yuface")
    from mtface.cli.main import main
    from mtface.core.resources import resource_path

    out = tmp_path / "out"
    sample = resource_path("samples", "astronaut.jpg")
    assert main(["predict", str(sample), "--out", str(out), "--small-faces"]) == 0
    written = json.loads((out / "astronaut.json").read_text())
    assert len(written["faces"]) == 1


# --- the second opinion ----------------------------------------------------------------------


def test_nearest_box_is_the_same_face_or_none():
    from mtface.core.detection.choice import nearest_box
    from mtface.core.types import FaceBox

    face = FaceBox(100.0, 100.0, 200.0, 200.0)
    near, far = FaceBox(110.0, 95.0, 215.0, 205.0), FaceBox(400.0, 100.0, 500.0, 200.0)
    assert nearest_box([far, near], face) is near
    assert nearest_box([far], face) is None and nearest_box([], face) is None


def test_a_face_turned_the_other_way_is_predicted_again_from_the_second_opinion(
    sample_image, monkeypatch
):
    from mtface.core import crop_search
    from mtface.core.predictor import Predictor
    from mtface.core.types import FaceBox

    class Boxes:
        def __init__(self, box: FaceBox) -> None:
            self.box, self.calls = box, 0

        def detect(self, image: np.ndarray) -> list[FaceBox]:
            self.calls += 1
            return [self.box]

    turned_points = FRONTAL_POINTS.copy()
    turned_points[2] = [66.0, 50.0]  # a turned face: only those are doubted (ADR 32)
    first = Boxes(FaceBox(190.0, 70.0, 310.0, 200.0, 0.9, keypoints=turned_points))
    second = Boxes(FaceBox(200.0, 80.0, 300.0, 190.0, 0.8))

    class Chain(Boxes):
        second_opinion = second

    chain = Chain(first.box)
    predictor = Predictor.from_weights(detector=chain, shift_steps=())
    monkeypatch.setattr(crop_search, "better_fit", lambda *args: False)
    assert predictor.predict(sample_image).faces[0].box is first.box  # the first fit is kept
    assert second.calls == 1  # a turned face: a second look
    monkeypatch.setattr(crop_search, "turned_the_other_way", lambda keypoints, yaw: True)
    again = predictor.predict(sample_image).faces[0]
    assert second.calls == 2 and again.box is second.box
    predictor_without = Predictor.from_weights(detector=Boxes(first.box))
    assert predictor_without.predict(sample_image).faces[0].box is first.box
