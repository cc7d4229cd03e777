"""BlazeFace port: anchors, NMS, detections on real faces, bad weights."""

from __future__ import annotations

import numpy as np
import pytest

from mtface.core.detection.blazeface import BlazeFaceDetector, ssd_anchors, weighted_nms
from mtface.core.weights import WeightsError
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def detector():
    return BlazeFaceDetector()


def test_anchor_layout():
    anchors = ssd_anchors()
    assert anchors.shape == (896, 2)
    assert np.allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    assert np.allclose(anchors[512], [0.5 / 8, 0.5 / 8])
    assert np.allclose(anchors[1], anchors[0])  # two anchors per 16x16 cell


def test_weighted_nms_merges_overlaps_and_keeps_separate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    scores = np.array([0.9, 0.6, 0.8])
    kps = np.zeros((3, 6, 2))
    out = weighted_nms(boxes, scores, kps)
    assert len(out) == 2
    merged, score, _ = out[0]
    assert score == 0.9 and 0 < merged[0] < 1  # the average lies between the two boxes


def test_detects_the_sample_face(detector, sample_image):
    faces = detector.detect(sample_image)
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.7
    # the astronaut's face is in the upper middle of the 512x512 picture
    assert 150 < (f.x0 + f.x1) / 2 < 280 and 60 < (f.y0 + f.y1) / 2 < 200
    assert 60 < f.width < 200 and f.keypoints.shape == (6, 2)


def test_no_face_in_a_blank_or_noise_image(detector):
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    assert detector.detect(noise) == []


def test_tall_and_wide_images_map_back_to_image_pixels(detector, sample_image):
    canvas = np.zeros((640, 512, 3), np.uint8)
    canvas[100:612] = sample_image
    f = detector.detect(canvas)[0]
    g = detector.detect(sample_image)[0]
    assert abs(f.y0 - 100 - g.y0) < 8 and abs(f.x0 - g.x0) < 8


def test_bad_detector_file(tmp_path):
    bad = tmp_path / "bf.pt"
    bad.write_bytes(b"nope")
    with pytest.raises(WeightsError):
        BlazeFaceDetector(bad)
    with pytest.raises(WeightsError, match="not found"):
        BlazeFaceDetector(tmp_path / "missing.pt")


@pytest.mark.shared
def test_detection_rate_on_aflw2000_subset(detector):
    from mtface.core.imageio import load_image

    images = sorted(shared_path("aflw2000_3d_subset", "images").glob("*.jpg"))
    found = sum(bool(detector.detect(load_image(p))) for p in images)
    assert found >= 14  # measured: 16 of 16 (docs/benchmarks.md)
