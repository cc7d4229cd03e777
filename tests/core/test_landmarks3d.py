"""The 3d definition's offsets (core/landmarks3d.py) and their use by the predictor."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mtface.core.data.threedmm import find_fitted_images
from mtface.core.geometry import rotation_from_angles
from mtface.core.landmarks3d import (
    Landmark3DOffsets,
    face_frame_offsets,
    fit_offsets,
    leave_one_out,
    mirror_symmetric,
    offsets_path,
)
from mtface.core.predictor import Predictor
from mtface.core.types import FaceBox
from mtface.core.weights import WeightsError
from tests.conftest import shared_path


def posed(template: np.ndarray, angles, scale: float, shift) -> np.ndarray:
    """The template (V, 3) turned, scaled and moved: a face's vertices in image pixels."""
    return scale * template @ rotation_from_angles(*angles).T + np.asarray(shift, float)


@pytest.fixture(scope="module")
def template(topology) -> np.ndarray:
    return topology.vertices.astype(np.float64)


# --- numerical values -----------------------------------------------------------------------


def test_offsets_turn_and_scale_with_the_face(template):
    offsets = Landmark3DOffsets(np.tile([0.0, 1.0, 0.0], (68, 1)), 1)
    keypoints = np.zeros((68, 3))
    frontal = offsets.apply(keypoints, posed(template, (0, 0, 0), 10.0, (50, 60, 0)), template)
    np.testing.assert_allclose(frontal, np.tile([0.0, 10.0, 0.0], (68, 1)), atol=1e-9)
    rolled = offsets.apply(keypoints, posed(template, (0, 0, 90), 10.0, (0, 0, 0)), template)
    # a 90 degree roll carries "down the face" to the image's horizontal axis
    assert np.allclose(np.abs(rolled[0, :2]), [10.0, 0.0], atol=1e-6)


def test_fit_then_apply_reproduces_symmetric_labels(template, topology):
    rng = np.random.default_rng(1)
    flip = topology.landmark_flip_permutation
    # rolled only: the image plane is the face's own, so 2D labels determine the offsets
    vertices = posed(template, (0, 0, 10), 12.0, (100, 90, 0))
    keypoints = rng.normal(100, 20, (68, 3))
    symmetric = mirror_symmetric(rng.normal(0, 0.3, (68, 3)) * [1, 1, 0], flip)
    labels = Landmark3DOffsets(symmetric, 1).apply(keypoints, vertices, template)[:, :2]
    offsets = fit_offsets(keypoints[None], vertices[None], labels[None], template, flip)
    assert offsets.faces == 1
    np.testing.assert_allclose(offsets.apply(keypoints, vertices, template)[:, :2], labels)
    # the label has no depth: the fitted offsets reproduce the image displacement only
    per_face = face_frame_offsets(keypoints, vertices, labels, template)
    np.testing.assert_allclose(mirror_symmetric(per_face, flip), offsets.offsets, atol=1e-9)


def test_mirror_symmetric_offsets(topology):
    flip = topology.landmark_flip_permutation
    offsets = np.zeros((68, 3))
    offsets[0] = [1.0, 2.0, 3.0]  # jaw point 0; its mirror is 16
    out = mirror_symmetric(offsets, flip)
    np.testing.assert_allclose(out[0], [0.5, 1.0, 1.5])
    np.testing.assert_allclose(out[16], [-0.5, 1.0, 1.5])
    np.testing.assert_allclose(mirror_symmetric(out, flip), out)


def test_leave_one_out_leaves_each_face_out(template, topology):
    vertices = np.stack([posed(template, (0, y, 0), 10.0, (0, 0, 0)) for y in (0, 10, 20)])
    keypoints = np.zeros((3, 68, 3))
    labels = np.zeros((3, 68, 2))
    labels[0, :, 1] += 30.0  # only the first face is displaced (down: symmetric)
    out = leave_one_out(keypoints, vertices, labels, template, topology.landmark_flip_permutation)
    assert out.shape == (3, 68, 2)
    np.testing.assert_allclose(out[0], 0.0, atol=1e-9)  # the others carry no offset
    assert np.abs(out[1]).max() > 10.0


# --- exceptions -----------------------------------------------------------------------------


def test_save_load_and_bad_files(tmp_path):
    offsets = Landmark3DOffsets(np.arange(204, dtype=float).reshape(68, 3), 17, ("a.jpg", "b.jpg"))
    offsets.save(tmp_path / "a.offsets3d.npz")
    again = Landmark3DOffsets.load(tmp_path / "a.offsets3d.npz")
    np.testing.assert_array_equal(again.offsets, offsets.offsets)
    assert again.faces == 17 and again.images == ("a.jpg", "b.jpg")
    (tmp_path / "bad.npz").write_bytes(b"\x00" * 50)
    with pytest.raises(ValueError, match="not a usable 3d landmark offsets file"):
        Landmark3DOffsets.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "old.npz", format="mtface-offsets3d-1", offsets=np.zeros((68, 3)), faces=1)
    assert Landmark3DOffsets.load(tmp_path / "old.npz").images == ()  # written before the names
    np.savez(tmp_path / "short.npz", format="mtface-offsets3d-1", offsets=np.zeros((5, 3)), faces=1)
    with pytest.raises(ValueError, match="68 finite"):
        Landmark3DOffsets.load(tmp_path / "short.npz")
    with pytest.raises(ValueError, match="no face"):
        fit_offsets(
            np.zeros((0, 68, 3)), np.zeros((0, 468, 3)), np.zeros((0, 68, 2)), None, np.arange(68)
        )


# --- the predictor --------------------------------------------------------------------------


def test_predictor_applies_offsets_beside_its_weights_to_3d_only(
    tmp_path, tiny_weights, sample_image
):
    weights = tmp_path / "m.pt"
    shutil.copy(tiny_weights, weights)
    box = [FaceBox(150, 60, 330, 260)]
    plain = Predictor.from_weights(weights).predict(sample_image, box, refine=False).faces[0]
    Landmark3DOffsets(np.tile([0.0, 0.05, 0.0], (68, 1)), 1).save(offsets_path(weights))
    moved_3d = Predictor.from_weights(weights).predict(sample_image, box, refine=False).faces[0]
    shift = moved_3d.landmarks[:, :2] - plain.landmarks[:, :2]
    assert np.abs(shift).max() > 0 and np.allclose(shift, shift[0], atol=1e-3)
    predictor_2d = Predictor.from_weights(weights, landmarks="2d", refiner_2d=None)
    plain_2d = Predictor.from_weights(
        weights, landmarks="2d", refiner_2d=None, offsets_3d=None
    ).predict(sample_image, box, refine=False)
    moved_2d = predictor_2d.predict(sample_image, box, refine=False)
    np.testing.assert_allclose(moved_2d.faces[0].landmarks, plain_2d.faces[0].landmarks)
    offsets_path(weights).write_bytes(b"corrupt")
    with pytest.raises(WeightsError, match="offsets"):
        Predictor.from_weights(weights)


def test_the_shipped_model_has_offsets():
    from mtface.core.model_file import load_model

    offsets = load_model().offsets
    assert offsets.faces >= 16 and np.isfinite(offsets.offsets).all()


def test_refining_from_3d_landmarks_takes_the_offsets_off_first(tmp_path, sample_image):
    """Stage 2 from a person's corrections: the given points carry the offsets, so untouched
    points stay where they were instead of moving by the offsets again."""
    box = [FaceBox(177.0, 84.5, 271.0, 175.0)]
    moves = {}
    for name, offsets in (
        ("without", None),
        ("with", Landmark3DOffsets(np.tile([0.0, 1.5, 0.0], (68, 1)), 1)),
    ):
        predictor = Predictor.from_weights(offsets_3d=offsets)
        face = predictor.predict(sample_image, box, box_kind="landmarks", refine=False).faces[0]
        again = predictor.refine_from_landmarks(
            sample_image, face.landmarks[:, :2], face.visible, face.box
        )
        moves[name] = np.linalg.norm(again.landmarks[:, :2] - face.landmarks[:, :2], axis=1)
    # 1.5 canonical units are 9 px here: applied twice, the points would move 2.6 px (median)
    assert np.median(moves["with"]) < np.median(moves["without"]) + 0.5


# --- the command ----------------------------------------------------------------------------


def test_cli_fit_offsets_writes_them_into_the_model_file(tmp_path, tiny_weights, capsys):
    from mtface.cli.main import main

    folder = tmp_path / "fits"
    folder.mkdir()
    pairs = find_fitted_images(shared_path("aflw2000_3d_subset", "images"))[:3]
    for image, mat in pairs:
        shutil.copy(image, folder)
        shutil.copy(mat, folder)
    weights = tmp_path / "m.pt"
    shutil.copy(tiny_weights, weights)
    assert main(["data", "fit-offsets", "--fits", str(folder), "--weights", str(weights)]) == 0
    out = capsys.readouterr()
    assert "leave-one-out" in out.out and "fitted on 3 faces" in out.out
    assert "test benchmark" not in out.err  # the copy is not named like AFLW2000-3D
    from mtface.core.model_file import load_model

    assert not offsets_path(weights).exists()  # inside the one file (ADR 20)
    fitted = load_model(weights).offsets
    assert fitted.faces == 3 and set(fitted.images) == {image.name for image, _ in pairs}
    # an evaluation on the same photos says its figures are in-sample
    assert main(["evaluate", "--aflw2000", str(folder), "--weights", str(weights)]) == 0
    assert "3 of these 3 images were used to fit" in capsys.readouterr().out
    # the bundled file is not replaced unless asked
    assert main(["data", "fit-offsets", "--fits", str(folder)]) == 2
    assert "--replace-bundled" in capsys.readouterr().err
    # a folder without fitted photos, and a fit without pt3d_68 and without BFM bases
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "fit-offsets", "--fits", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "no usable .jpg + .mat pair" in capsys.readouterr().err
    ((image, mat),) = find_fitted_images(shared_path("w300lp_sample"))
    lp = tmp_path / "lp"
    lp.mkdir()
    shutil.copy(image, lp)
    shutil.copy(mat, lp)
    assert main(["data", "fit-offsets", "--fits", str(lp), "--out", str(tmp_path / "o")]) == 2
    assert "no pt3d_68" in capsys.readouterr().err
