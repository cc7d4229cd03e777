"""Faces turned on screen (ADR 35): turned crops, roll from points, the pose back in the image,
and the predictor on a photo turned a quarter."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from mtface.core.crop_search import RETRY_TURNS
from mtface.core.face_roll import (
    ROLL_LIMIT_DEG,
    crop_angle,
    roll_of_detector_points,
    roll_of_landmarks,
)
from mtface.core.geometry import (
    CropTransform,
    angles_from_rotation,
    protocol_crop,
    rotation_from_angles,
)
from mtface.core.pose_geometry import mesh_rotation, pose_turned_on_screen
from mtface.core.predictor import Predictor

UPRIGHT_YUNET = np.array([[204, 104], [240, 104], [222, 124], [208, 140], [236, 140]], float)


def turn_points(points: np.ndarray, angle: float, centre: np.ndarray) -> np.ndarray:
    """points (N, 2) turned by ``angle`` radians about ``centre`` in image axes (y down)."""
    c, s = math.cos(angle), math.sin(angle)
    return (points - centre) @ np.array([[c, s], [-s, c]]) + centre


# --- crops --------------------------------------------------------------------------------


def test_turned_crop_round_trip_and_axes():
    tf = CropTransform.from_box((10.0, 20.0, 110.0, 100.0), 120, enlarge=1.5, angle=0.7)
    pts = np.array([[60.0, 60.0, 5.0], [10.0, 20.0, -3.0], [200.0, -40.0, 1.0]])
    np.testing.assert_allclose(tf.to_image(tf.to_crop(pts)), pts, atol=1e-9)
    np.testing.assert_allclose(tf.centre, [60.0, 60.0])
    assert math.isclose(tf.side, 150.0)
    # the crop's x axis runs along (cos, sin) of the angle in the image; z is not turned
    step = tf.to_image(np.array([[60.5, 59.5, 2.0]]))[0] - np.append(tf.centre, 0.0)
    np.testing.assert_allclose(step[:2], [math.cos(0.7) / tf.scale, math.sin(0.7) / tf.scale])
    assert math.isclose(step[2], 2.0 / tf.scale)
    affine = tf.affine()
    np.testing.assert_allclose(pts[:, :2] @ affine[:, :2].T + affine[:, 2], tf.to_crop(pts)[:, :2])


def test_turned_crop_warps_the_image_as_it_maps_points():
    image = np.zeros((200, 200, 3), np.uint8)
    cv2.circle(image, (150, 60), 4, (255, 255, 255), -1)
    tf = CropTransform.about_centre(100.0, 100.0, 160.0, 120, angle=1.1)
    crop = cv2.warpAffine(image, tf.affine(), (120, 120))
    found = np.argwhere(crop[:, :, 0] > 128).mean(0)[::-1]  # (x, y)
    np.testing.assert_allclose(found, tf.to_crop(np.array([[150.0, 60.0]]))[0], atol=0.6)


def test_zero_angle_is_the_axis_aligned_crop():
    tf = CropTransform.from_box((10.0, 20.0, 110.0, 100.0), 120, enlarge=1.5)
    assert tf.angle == 0.0
    assert (tf.origin_x, tf.origin_y) == (60.0 - 59.5 / 0.8, 60.0 - 59.5 / 0.8)


def test_protocol_crop_in_a_turned_frame_boxes_the_turned_points():
    square = np.array([[0.0, 0.0], [40.0, 0.0], [40.0, 40.0], [0.0, 40.0]]) + 100.0
    turned = turn_points(square, 0.5, np.array([120.0, 120.0]))
    tf = protocol_crop(turned, 120, angle=0.5)
    np.testing.assert_allclose(tf.centre, [120.0, 120.0], atol=1e-9)
    assert math.isclose(tf.side, 40.0 * math.sqrt(2.0))
    assert math.isclose(
        protocol_crop(turned, 120).side, 40.0 * math.sqrt(2.0) * (math.cos(0.5) + math.sin(0.5))
    )


# --- roll from points --------------------------------------------------------------------


@pytest.mark.parametrize("roll", [0.0, 0.4, -1.2, math.pi / 2, 2.8])
def test_roll_of_detector_points_numerical_values(roll):
    centre = UPRIGHT_YUNET.mean(0)
    five = turn_points(UPRIGHT_YUNET, roll, centre)
    assert math.isclose(roll_of_detector_points(five), roll, abs_tol=1e-9)
    six = np.vstack([five[:3], five[3:].mean(0, keepdims=True), [[0, 0], [0, 0]]])
    assert math.isclose(roll_of_detector_points(six), roll, abs_tol=1e-9)


def test_roll_of_landmarks_follows_the_template(topology):
    landmarks = topology.landmarks_from_vertices(topology.vertices.astype(np.float64))[:, :2]
    assert abs(roll_of_landmarks(landmarks)) < math.radians(2)
    turned = turn_points(landmarks, -1.0, landmarks.mean(0))
    assert math.isclose(roll_of_landmarks(turned), roll_of_landmarks(landmarks) - 1.0, abs_tol=1e-9)


def test_roll_exceptions_and_crop_angle():
    assert math.isnan(roll_of_detector_points(None))
    assert math.isnan(roll_of_detector_points(np.zeros((4, 2))))
    assert math.isnan(roll_of_detector_points(np.zeros((5, 2))))  # every point in one place
    limit = math.radians(ROLL_LIMIT_DEG)
    assert crop_angle(limit * 0.99) == 0.0
    assert crop_angle(-limit * 1.01) == -limit * 1.01
    assert crop_angle(float("nan")) == 0.0
    assert crop_angle(3.0, limit_deg=float("inf")) == 0.0


# --- pose ----------------------------------------------------------------------------------


def test_pose_turned_on_screen_is_the_turned_mesh_pose(topology):
    vertices = topology.vertices.astype(np.float64)
    rotation = rotation_from_angles(10.0, 35.0, -5.0)
    head = (vertices - vertices.mean(0)) * [1, -1, 1] @ rotation.T * [1, -1, 1] * 300 + 200
    angle = 1.2
    turned = head.copy()
    turned[:, :2] = turn_points(head[:, :2], angle, np.array([200.0, 200.0]))
    crop_pose = np.array(angles_from_rotation(mesh_rotation(head, topology)))
    image_pose = np.array(angles_from_rotation(mesh_rotation(turned, topology)))
    np.testing.assert_allclose(pose_turned_on_screen(crop_pose, angle), image_pose, atol=1e-6)
    np.testing.assert_array_equal(pose_turned_on_screen(crop_pose, 0.0), crop_pose)


# --- the predictor -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upright(sample_image):
    predictor = Predictor.from_weights()
    face = predictor.predict(sample_image).faces[0]
    size = math.sqrt(float(np.prod(np.ptp(face.landmarks[:, :2], axis=0))))
    return predictor, face, size


def turned_photo(
    image: np.ndarray, points: np.ndarray, degrees: float
) -> tuple[np.ndarray, np.ndarray]:
    """The photo turned ``degrees`` counter-clockwise on screen about its centre (grey
    corners) and its points (N, 2) with it."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), degrees, 1.0)
    out = cv2.warpAffine(image, matrix, (w, h), borderValue=(110, 110, 110))
    return out, points @ matrix[:, :2].T + matrix[:, 2]


def error_on(faces: list, truth: np.ndarray, size: float) -> float:
    """The smallest mean point error of ``faces`` against ``truth``, in face sizes."""
    return min(
        float(np.linalg.norm(f.landmarks[:, :2] - truth, axis=1).mean()) / size for f in faces
    )


def test_a_head_tilted_60_degrees_is_cropped_upright(upright, sample_image):
    predictor, face, size = upright
    image, truth = turned_photo(sample_image, face.landmarks[:, :2], 60.0)
    faces = predictor.predict(image).faces
    assert error_on(faces, truth, size) < 0.03
    best = min(faces, key=lambda f: np.linalg.norm(f.landmarks[:, :2] - truth, axis=1).mean())
    assert abs(best.pose.roll + 60.0) < 15.0  # the head's roll on screen, not the crop's
    axis_aligned = Predictor.from_weights(roll_limit_deg=float("inf"))
    assert error_on(axis_aligned.predict(image).faces, truth, size) > 0.04


def test_any_rotation_finds_a_face_lying_on_its_side(upright, sample_image):
    _, face, size = upright
    h = sample_image.shape[0]
    image = np.ascontiguousarray(np.rot90(sample_image, -1))  # a quarter clockwise
    truth = np.stack([h - 1 - face.landmarks[:, 1], face.landmarks[:, 0]], 1)
    # the detector's points read this face as upright: only the turned retries find it
    assert error_on(Predictor.from_weights().predict(image).faces, truth, size) > 0.15
    retried = Predictor.from_weights(retry_turns=RETRY_TURNS).predict(image).faces
    assert error_on(retried, truth, size) < 0.04
    best = min(retried, key=lambda f: np.linalg.norm(f.landmarks[:, :2] - truth, axis=1).mean())
    assert abs(abs(best.pose.roll) - 90.0) < 15.0
    assert best.confidence > face.confidence - 0.2


def test_cli_any_rotation_reaches_predict_and_annotate(upright, sample_image, tmp_path):
    from mtface.cli.main import main
    from mtface.core.formats.annotations import read_annotation

    _, face, size = upright
    h = sample_image.shape[0]
    side = np.ascontiguousarray(np.rot90(sample_image, -1))
    cv2.imwrite(str(tmp_path / "side.png"), cv2.cvtColor(side, cv2.COLOR_RGB2BGR))
    truth = np.stack([h - 1 - face.landmarks[:, 1], face.landmarks[:, 0]], 1)
    for flags, expected in (([], False), (["--any-rotation"], True)):
        out = tmp_path / f"out{len(flags)}"
        assert main(["predict", str(tmp_path / "side.png"), "--out", str(out), *flags]) == 0
        faces = json.loads((out / "side.json").read_text())["faces"]
        errors = [
            np.linalg.norm(np.array(f["landmarks"])[:, :2] - truth, axis=1).mean() / size
            for f in faces
        ]
        assert (min(errors) < 0.04) == expected
    assert main(["annotate", str(tmp_path / "side.png"), "--any-rotation", "--format", "pts"]) == 0
    points = [a.landmarks for a in read_annotation(tmp_path / "side.pts")]
    assert np.linalg.norm(points[0][:, :2] - truth, axis=1).mean() / size < 0.04


def test_on_a_profile_the_eyes_to_mouth_line_leads():
    from mtface.core.face_roll import roll_from_eyes_and_mouth

    # a profile's eyes nearly meet and their short line tilts with the pitch (45 degrees here);
    # the face's up-down line is level: its roll on screen is near 0
    roll = roll_from_eyes_and_mouth(
        np.array([0.0, 0.0]), np.array([2.0, 2.0]), np.array([1.0, 11.0])
    )
    assert abs(math.degrees(roll)) < 5.0
    # a frontal face: the eye line counts as much as the eyes-to-mouth line
    level = roll_from_eyes_and_mouth(
        np.array([0.0, 0.0]), np.array([10.0, 1.0]), np.array([5.0, 10.0])
    )
    # across = (10, 1) + the eyes-to-mouth line (0, 9.5) turned a quarter back = (19.5, 1)
    assert math.isclose(level, math.atan2(1.0, 19.5), abs_tol=1e-12)
