"""Other first crops for low-confidence faces and the choice among their fits
(core/crop_search.py, ADR 35 and 37), and the equalised second search of faint photos."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtface.core.crop_search import (
    SHIFT_STEPS,
    keep_better_boxes,
    keep_better_tries,
    low_confidence,
    shifted_crops,
    shifted_tries,
    turned_crops,
    turned_tries,
)
from mtface.core.geometry import CropTransform
from mtface.core.imageio import contrast_equalised
from mtface.core.types import Face, FaceBox, Pose
from tests.conftest import shared_path

CROP = CropTransform.about_centre(100.0, 80.0, 60.0, 120)
BOX = FaceBox(70.0, 50.0, 130.0, 110.0, 0.9)


def face_at(centre: tuple[float, float], confidence: float | None, yaw: float = 0.0) -> Face:
    """A face whose 68 landmarks lie in a 40 px square about ``centre``."""
    grid = np.stack(np.meshgrid(np.linspace(-20, 20, 17), np.linspace(-20, 20, 4)), -1)
    points = grid.reshape(-1, 2)[:68] + np.asarray(centre)
    return Face(
        box=BOX,
        vertices=np.zeros((3, 3), np.float32),
        landmarks=np.column_stack([points, np.zeros(68)]).astype(np.float32),
        visible=np.ones(68, bool),
        pose=Pose(0.0, yaw, 0.0),
        confidence=confidence,
    )


# --- crops: shapes and numerical values -------------------------------------------------------


def test_shifted_crops_move_along_the_crop_axis():
    moved = shifted_crops(CROP, 1.0, (0.1, 0.2))
    assert len(moved) == 2
    np.testing.assert_allclose(moved[0].centre, [106.0, 80.0])
    np.testing.assert_allclose(moved[1].centre, [112.0, 80.0])
    np.testing.assert_allclose(shifted_crops(CROP, -3.0, (0.1,))[0].centre, [94.0, 80.0])
    for tf in moved:
        assert math.isclose(tf.side, CROP.side) and tf.size == CROP.size and tf.angle == 0.0
    turned = CropTransform.about_centre(100.0, 80.0, 60.0, 120, angle=math.pi / 2)
    np.testing.assert_allclose(shifted_crops(turned, 1.0, (0.1,))[0].centre, [100.0, 86.0])


def test_shifted_crops_need_a_direction():
    assert shifted_crops(CROP, 0.0, (0.1,)) == []
    assert shifted_crops(CROP, 1.0, ()) == []


def test_turned_crops_keep_centre_and_side():
    (tf,) = turned_crops(CROP, (0.5,))
    np.testing.assert_allclose(tf.centre, CROP.centre)
    assert math.isclose(tf.side, CROP.side) and math.isclose(tf.angle, 0.5)


# --- which faces are tried, and the choice ----------------------------------------------------


def test_only_low_confidence_faces_are_tried():
    faces = [face_at((100, 80), 0.8), face_at((100, 80), 0.2), face_at((100, 80), None)]
    assert low_confidence(faces) == [1]
    tries = shifted_tries(faces, [CROP] * 3, SHIFT_STEPS)
    assert [i for i, _ in tries] == [1] * (2 * len(SHIFT_STEPS))  # both ways, each step
    xs = sorted(float(tf.centre[0]) for _, tf in tries)
    np.testing.assert_allclose(xs, [88.0, 94.0, 106.0, 112.0])
    assert [i for i, _ in turned_tries(faces, [CROP] * 3, (0.5, -0.5))] == [1, 1]


def test_the_most_confident_try_on_the_box_replaces_the_face():
    faces = [face_at((100, 80), 0.2, yaw=30.0)]
    fits = [
        face_at((100, 80), 0.30, yaw=40.0),
        face_at((100, 80), 0.45, yaw=50.0),
        face_at((400, 80), 0.90, yaw=50.0),  # drifted to a neighbour: not the same person
    ]
    calls = []

    def refit(boxes, crops):
        calls.append((list(boxes), list(crops)))
        return fits

    tries = [(0, CROP)] * 3
    kept = keep_better_tries(faces, [BOX], tries, refit, 0.0)
    assert kept[0] is fits[1] and faces[0].confidence == 0.2  # the input list is not changed
    assert len(calls) == 1 and calls[0][0] == [BOX] * 3  # one batch
    assert keep_better_tries(faces, [BOX], tries, refit, 0.3)[0] is faces[0]  # within margin
    assert keep_better_tries(faces, [BOX], [], refit, 0.0) is faces


def test_tries_that_read_the_face_less_turned_are_left_out_when_asked():
    faces = [face_at((100, 80), 0.2, yaw=-60.0)]
    fits = [face_at((100, 80), 0.5, yaw=20.0), face_at((100, 80), 0.3, yaw=-70.0)]
    tries = [(0, CROP), (0, CROP)]
    assert keep_better_tries(faces, [BOX], tries, lambda b, c: fits, 0.0)[0] is fits[0]
    turned = keep_better_tries(faces, [BOX], tries, lambda b, c: fits, 0.0, at_least_as_turned=True)
    assert turned[0] is fits[1]


def test_other_boxes_of_the_same_person_replace_a_face_they_fit_better():
    faces = [face_at((100, 80), 0.2), face_at((300, 80), 0.2)]
    near, beside = FaceBox(75.0, 55.0, 125.0, 105.0, 0.8), FaceBox(400.0, 50.0, 460.0, 110.0)
    asked = []

    def refit_boxes(boxes):
        asked.append(list(boxes))
        return [face_at((100, 80), 0.6) for _ in boxes]

    kept = keep_better_boxes(faces, [0], [near, beside], refit_boxes)
    assert asked == [[near]]  # only boxes on the face's person, for the faces asked about
    assert kept[0].confidence == 0.6 and kept[1] is faces[1]
    worse = keep_better_boxes(faces, [0], [near], lambda boxes: [face_at((100, 80), 0.1)])
    assert worse[0] is faces[0]
    anyway = keep_better_boxes(
        faces, [0], [near], lambda boxes: [face_at((100, 80), 0.1)], lambda face: True
    )
    assert anyway[0].confidence == 0.1
    assert keep_better_boxes(faces, [0], [beside], refit_boxes) is faces
    assert keep_better_boxes(faces, [0], [near], refit_boxes, margin=0.4)[0] is faces[0]
    assert keep_better_boxes(faces, [0], [near], refit_boxes, margin=0.3)[0].confidence == 0.6


# --- the equalised second search --------------------------------------------------------------


def test_contrast_equalised_shapes_and_contrast():
    rng = np.random.default_rng(0)
    faint = (120 + rng.integers(0, 12, (64, 80, 3))).astype(np.uint8)
    out = contrast_equalised(faint)
    assert out.shape == faint.shape and out.dtype == np.uint8
    assert out.std() > 2 * faint.std()
    grey = np.full((32, 32, 3), 90, np.uint8)
    assert len(np.unique(contrast_equalised(grey))) == 1  # a flat picture stays flat


def test_a_faint_photo_is_searched_again_equalised(sample_image):
    from mtface.core.predictor import Predictor

    faint = (128 + (sample_image.astype(np.float64) - 128) * 0.05).astype(np.uint8)
    plain = Predictor.from_weights(equalise_when_empty=False)
    assert plain.predict(faint).faces == []
    found = Predictor.from_weights().predict(faint).faces
    assert len(found) == 1
    upright = Predictor.from_weights().predict(sample_image).faces[0]
    error = np.linalg.norm(found[0].landmarks[:, :2] - upright.landmarks[:, :2], axis=1).mean()
    assert error < 0.05 * (upright.box.x1 - upright.box.x0)


def test_a_box_on_the_back_of_a_profile_head_is_moved_to_the_face():
    """An AFLW2000-3D validation profile (yaw 81 degrees) whose detector box covers hair and
    ear: the first fit reads the back of the head (box NME > 20 %); the moved first crops
    put the points on the face (ADR 37). Measures behaviour only; nothing is fitted on it."""
    folder = shared_path("aflw2000_3d_val", "images")
    if not (folder / "image01662.jpg").exists():
        pytest.skip("needs ../shared/data/aflw2000_3d_val")
    from mtface.core.commands.evaluate import face_on_person
    from mtface.core.evaluation import nme_box
    from mtface.core.formats.matfile import load_mat
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor

    image = load_image(folder / "image01662.jpg")
    truth = load_mat(folder / "image01662.mat")["pt3d_68"][:2].T - 1.0  # 1-based (ADR 2)

    def nme(predictor: Predictor) -> float:
        face = face_on_person(predictor.predict(image).faces, truth)
        assert face is not None
        return float(nme_box(face.landmarks[None, :, :2], truth[None])[0])

    assert nme(Predictor.from_weights(shift_steps=())) > 20.0
    assert nme(Predictor.from_weights()) < 10.0


def test_a_coarse_box_over_two_heads_is_searched_again_finer():
    """An AFLW2000-3D validation photo of two heads forehead to forehead: YuNet's coarse
    search gives one settled box over both, whose fit the cascade trusts little; the finer
    search finds the labelled profile (ADR 39). Measures behaviour only."""
    folder = shared_path("aflw2000_3d_val", "images")
    if not (folder / "image02448.jpg").exists():
        pytest.skip("needs ../shared/data/aflw2000_3d_val")
    from mtface.core.commands.evaluate import face_on_person
    from mtface.core.formats.matfile import load_mat
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor

    image = load_image(folder / "image02448.jpg")
    truth = load_mat(folder / "image02448.mat")["pt3d_68"][:2].T - 1.0
    coarse = Predictor.from_weights(search_finer=False).predict(image).faces
    assert face_on_person(coarse, truth) is None
    found = face_on_person(Predictor.from_weights().predict(image).faces, truth)
    assert found is not None


def test_a_try_barely_more_confident_does_not_replace_a_turned_face():
    """An AFLW2000-3D validation face at yaw +45 whose moved try reads it at -64 and is only
    0.001 more confident: with ``SHIFT_MARGIN`` the first fit, on the person, stays (ADR 37
    addendum). Measures behaviour only; the margin was chosen on training-side views."""
    folder = shared_path("aflw2000_3d_val", "images")
    if not (folder / "image01738.jpg").exists():
        pytest.skip("needs ../shared/data/aflw2000_3d_val")
    from mtface.core.commands.evaluate import face_on_person
    from mtface.core.crop_search import SHIFT_MARGIN
    from mtface.core.formats.matfile import load_mat
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor

    image = load_image(folder / "image01738.jpg")
    truth = load_mat(folder / "image01738.mat")["pt3d_68"][:2].T - 1.0
    assert SHIFT_MARGIN > 0.0
    face = face_on_person(Predictor.from_weights().predict(image).faces, truth)
    assert face is not None and face.pose.yaw > 0.0
