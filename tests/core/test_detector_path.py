"""Caller-box kinds, the 2D landmark option and the detector chain of the predictor."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtface.cli.main import main
from mtface.core.detection.yunet import FallbackDetector
from mtface.core.geometry import protocol_crop
from mtface.core.landmarks2d import CONTOUR_POINTS
from mtface.core.predictor import Predictor
from mtface.core.resources import resource_path
from mtface.core.types import FaceBox


@pytest.fixture(scope="module")
def shipped():
    return Predictor.from_weights(refine_crop=False)


def test_landmark_boxes_without_refinement_are_the_protocol_crop(shipped, sample_image):
    box = FaceBox(200.0, 80.0, 300.0, 190.0)
    face = shipped.predict(sample_image, [box], box_kind="landmarks").faces[0]
    tf = protocol_crop(np.array([[200.0, 80.0], [300.0, 190.0]]), shipped.crop_size)
    expected = tf.to_image(shipped.run_on_transforms(sample_image, [tf]).keypoints[0, -1])
    # the stage output is the network's own keypoints (the face's landmarks add the 3d offsets)
    np.testing.assert_allclose(face.stages[-1].landmarks, expected, atol=1e-4)


def test_unknown_box_kind_or_landmarks_is_an_error(shipped, sample_image):
    with pytest.raises(ValueError, match="box_kind"):
        shipped.predict(sample_image, [FaceBox(0, 0, 10, 10)], box_kind="tight")
    with pytest.raises(ValueError, match="landmarks"):
        Predictor.from_weights(landmarks="4d")


def test_2d_landmarks_put_the_contour_on_the_outline(sample_image):
    p3 = Predictor.from_weights(landmarks="3d").predict(sample_image).faces[0]
    p2 = Predictor.from_weights(landmarks="2d").predict(sample_image).faces[0]
    assert (p3.convention, p2.convention) == ("3d", "2d")
    assert p2.visible[list(CONTOUR_POINTS)].all()
    np.testing.assert_array_equal(p2.vertices, p3.vertices)  # one mesh, two readings
    size = np.sqrt(np.prod(np.ptp(p3.landmarks_2d, axis=0)))
    assert 0.002 < np.abs(p2.landmarks_2d - p3.landmarks_2d)[:17].mean() / size < 0.1


def test_cli_predict_records_the_definition_and_box_kind(tmp_path, capsys):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"astronaut.jpg": [[200, 80, 300, 190]]}))
    code = main(
        [
            "predict",
            str(resource_path("samples", "astronaut.jpg")),
            "--out",
            str(tmp_path / "out"),
            "--boxes",
            str(boxes),
            "--box-kind",
            "landmarks",
            "--no-refine",
            "--landmarks",
            "2d",
        ]
    )
    assert code == 0
    payload = json.loads((tmp_path / "out" / "astronaut.json").read_text())
    assert payload["faces"][0]["landmark_definition"] == "2d"


class _Fixed:
    def __init__(self, boxes):
        self.boxes, self.calls = boxes, 0

    def detect(self, image):
        self.calls += 1
        return self.boxes


def test_fallback_detector_asks_the_next_only_when_needed():
    empty, one = _Fixed([]), _Fixed([FaceBox(0, 0, 5, 5)])
    assert FallbackDetector([empty, one]).detect(np.zeros((8, 8, 3), np.uint8)) == one.boxes
    never = _Fixed([FaceBox(1, 1, 2, 2)])
    assert FallbackDetector([one, never]).detect(np.zeros((8, 8, 3), np.uint8)) == one.boxes
    assert never.calls == 0


def test_yunet_boxes_are_in_blazefaces_geometry(sample_image):
    pytest.importorskip("yuface")
    from mtface.core.detection.blazeface import BlazeFaceDetector
    from mtface.core.detection.yunet import YuNetDetector

    yu = YuNetDetector().detect(sample_image)
    bf = BlazeFaceDetector().detect(sample_image)
    assert len(yu) == 1 and 0.5 < yu[0].score <= 1.0
    a, b = yu[0], bf[0]
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    union = a.width * a.height + b.width * b.height - ix * iy
    assert ix * iy / union > 0.6


def test_yunet_searches_large_images_downscaled(sample_image):
    pytest.importorskip("yuface")
    import cv2

    from mtface.core.detection.yunet import YuNetDetector

    big = cv2.resize(sample_image, (1024, 1024))
    small_faces = YuNetDetector(max_side=320).detect(big)
    full_faces = YuNetDetector(max_side=1024).detect(big)
    assert len(small_faces) == len(full_faces) == 1
    assert abs(small_faces[0].x0 - full_faces[0].x0) < 0.05 * full_faces[0].width


def test_yunet_upscale_maps_boxes_back_to_the_image(sample_image):
    pytest.importorskip("yuface")
    import cv2

    from mtface.core.detection.yunet import YuNetDetector

    small = cv2.resize(sample_image, (256, 256))
    plain = YuNetDetector().detect(small)
    enlarged = YuNetDetector(upscale=2.0).detect(small)
    assert len(plain) == len(enlarged) == 1
    assert abs(enlarged[0].x0 - plain[0].x0) < 0.1 * plain[0].width
    assert abs(enlarged[0].width - plain[0].width) < 0.15 * plain[0].width
    assert YuNetDetector(upscale=2.0, second_side=400).detect(small) == []  # too large to enlarge


def test_crop_change_numerical_values():
    from mtface.core.geometry import CropTransform
    from mtface.core.predictor import crop_change

    a = CropTransform.from_box((0.0, 0.0, 100.0, 100.0), 120)
    assert crop_change(a, a) == pytest.approx(0.0, abs=1e-12)
    shifted = CropTransform.from_box((10.0, 0.0, 110.0, 100.0), 120)
    assert crop_change(a, shifted) == pytest.approx(0.1)
    larger = CropTransform.from_box((-10.0, -10.0, 110.0, 110.0), 120)
    assert crop_change(a, larger) == pytest.approx(0.2)


def count_passes(predictor: Predictor) -> list[int]:
    calls: list[int] = []
    original = predictor.run_on_transforms
    predictor.run_on_transforms = lambda image, tfs, *rest: (
        calls.append(len(tfs)) or original(image, tfs, *rest)
    )
    return calls


def test_near_frontal_faces_keep_their_first_pass(sample_image):
    frontal_gate = Predictor.from_weights(refine_tolerance=0.0)  # the sample: |yaw| < 30
    every_face = Predictor.from_weights(refine_tolerance=0.0, refine_min_yaw_deg=0.0)
    gated, ungated = count_passes(frontal_gate), count_passes(every_face)
    face = frontal_gate.predict(sample_image).faces[0]
    every_face.predict(sample_image)
    assert abs(face.pose.yaw) < 30.0
    assert gated == [1] and ungated == [1, 1]


def test_refine_tolerance_skips_second_passes_that_would_barely_move(sample_image):
    always = Predictor.from_weights(refine_tolerance=0.0, refine_min_yaw_deg=0.0)
    lenient = Predictor.from_weights(refine_tolerance=10.0, refine_min_yaw_deg=0.0)
    calls = count_passes(lenient)
    face = lenient.predict(sample_image).faces[0]
    assert calls == [1]
    first_only = Predictor.from_weights(refine_crop=False).predict(sample_image).faces[0]
    np.testing.assert_allclose(face.landmarks, first_only.landmarks, atol=1e-4)
    assert not np.allclose(always.predict(sample_image).faces[0].landmarks, face.landmarks)


def test_crop_results_carry_the_visibility_of_each_stages_mesh(shipped, sample_image):
    import torch

    tf = shipped.crop_from_box(FaceBox(200.0, 80.0, 300.0, 190.0))
    result = shipped.run_on_transforms(sample_image, [tf])
    for stage in range(result.vertices.shape[1]):
        again = shipped.model.visibility(torch.as_tensor(result.vertices[:, stage]))
        np.testing.assert_allclose(result.visibility[:, stage], again.numpy(), atol=1e-5)
