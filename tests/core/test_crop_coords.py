"""core/crop_coords.py: the one definition of the normalised crop coordinates and pose scale,
and the predictor's output on the bundled sample, unchanged by moving every conversion there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mtface.core.crop_coords import (
    POSE_SCALE_DEGREES,
    crop_to_normalised,
    normalised_to_crop,
    pose_from_normalised,
    pose_to_normalised,
)

#: The predictor's output on the bundled sample computed before the conversions moved here
#: (shipped weights with the SHA-256 stored in the file; see test_predictor_output_is_unchanged).
REFERENCE = Path(__file__).parent / "data" / "predictor_sample_reference.npz"


# --- smoke / shapes -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2,), (68, 2), (68, 3), (4, 2, 468, 3)])
def test_shapes_are_kept(shape):
    points = np.zeros(shape)
    assert crop_to_normalised(points, 120).shape == shape
    assert normalised_to_crop(points, 120).shape == shape
    tensor = torch.zeros(shape)
    assert normalised_to_crop(tensor, 120).shape == shape


@pytest.mark.parametrize(
    "np_dtype, torch_dtype", [(np.float32, torch.float32), (np.float64, torch.float64)]
)
def test_dtype_and_backend_are_kept(np_dtype, torch_dtype):
    points = np.ones((5, 3), dtype=np_dtype)
    for convert in (crop_to_normalised, normalised_to_crop):
        assert convert(points, 120).dtype == np_dtype
        out = convert(torch.ones(5, 3, dtype=torch_dtype), 120)
        assert isinstance(out, torch.Tensor) and out.dtype == torch_dtype
    assert pose_to_normalised(np.ones(3, dtype=np_dtype)).dtype == np_dtype
    assert pose_from_normalised(torch.ones(3, dtype=torch_dtype)).dtype == torch_dtype


def test_integer_pixels_become_float64():
    pixels = np.array([[0, 119, 60]])
    assert np.array_equal(crop_to_normalised(pixels, 120), [[-59.5 / 60, 59.5 / 60, 1.0]])
    out = normalised_to_crop(torch.tensor([[0, 1]]), 120)
    assert out.dtype == torch.float64 and out.tolist() == [[59.5, 119.5]]


# --- exceptions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "points, size, message",
    [
        (np.zeros((5, 4)), 120, "not shape"),
        (np.zeros((5, 1)), 120, "not shape"),
        (np.float64(3.0), 120, "not shape"),
        ([1.0, 2.0], 120, "not shape"),
        (np.zeros((5, 3)), 0, "crop size"),
    ],
    ids=["four-components", "one-component", "scalar", "list", "empty-crop"],
)
def test_bad_inputs_are_refused(points, size, message):
    for convert in (crop_to_normalised, normalised_to_crop):
        with pytest.raises(ValueError, match=message):
            convert(points, size)


# --- numerical values -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 119, 120])
def test_definition(size):
    """x_n = (x - (S - 1) / 2) / (S / 2), z_n = z / (S / 2): the crop's centre pixel is 0, the
    centres of its first and last pixels are -(S - 1) / S and (S - 1) / S."""
    last = size - 1.0
    points = np.array([[0.0, last, 0.0], [last / 2, last / 2, size / 2.0], [last, 0.0, -size]])
    expected = np.array(
        [[-last / size, last / size, 0.0], [0.0, 0.0, 1.0], [last / size, -last / size, -2.0]]
    )
    assert np.allclose(crop_to_normalised(points, size), expected, atol=1e-15)
    assert np.allclose(crop_to_normalised(points[:, :2], size), expected[:, :2], atol=1e-15)


def test_conversions_are_exact_inverses():
    rng = np.random.default_rng(0)
    points = rng.uniform(-50.0, 170.0, (200, 3))
    for size in (1, 64, 119, 120, 121):
        there = crop_to_normalised(points, size)
        assert np.allclose(normalised_to_crop(there, size), points, rtol=0, atol=1e-12)
        assert np.allclose(
            crop_to_normalised(normalised_to_crop(points, size), size), points, rtol=0, atol=1e-12
        )
        assert np.allclose(
            normalised_to_crop(points[:, :2], size),
            normalised_to_crop(points, size)[:, :2],
            rtol=0,
            atol=0,
        )
    pose = rng.uniform(-180.0, 180.0, (50, 3))
    assert np.allclose(pose_from_normalised(pose_to_normalised(pose)), pose, rtol=0, atol=1e-12)
    assert pose_to_normalised(90.0) == 1.0 and pose_from_normalised(-0.5) == -45.0
    assert POSE_SCALE_DEGREES == 90.0


def test_numpy_and_torch_give_the_same_numbers():
    rng = np.random.default_rng(1)
    points = rng.uniform(-1.5, 1.5, (3, 68, 3)).astype(np.float32)
    for convert in (normalised_to_crop, crop_to_normalised):
        assert np.array_equal(convert(torch.from_numpy(points), 120).numpy(), convert(points, 120))


def test_the_model_and_training_targets_use_the_definition(topology):
    """Bit for bit the formulas that were written inline before (model, training set)."""
    from mtface.core.model import CascadeConfig, CascadeMTCNN
    from mtface.core.training.dataset import normalise_shape

    rng = np.random.default_rng(2)
    crop = rng.uniform(-10.0, 130.0, (2, 468, 3))
    centred = crop.astype(np.float32)
    centred[..., 2] -= centred[..., 2].mean(axis=-1, keepdims=True)
    expected = np.concatenate([(centred[..., :2] - 59.5) / 60.0, centred[..., 2:] / 60.0], -1)
    assert np.array_equal(normalise_shape(crop, 120), expected)

    model = CascadeMTCNN(CascadeConfig(), topology)
    points = torch.from_numpy(rng.uniform(-1.2, 1.2, (2, 68, 3)).astype(np.float32))
    assert torch.equal(model.to_crop_pixels(points), points[..., :2] * 60.0 + 59.5)


def test_predictor_output_is_unchanged():
    """The shipped model on the bundled sample: a landmark-box crop refined from the landmarks,
    a flip-tested pass and a pass from given (corrected) landmarks, against values computed
    before the conversions moved to core/crop_coords.py."""
    from mtface.core.resources import resource_path
    from mtface.core.weights import sha256_of
    from tools.make_predictor_reference import sample_faces

    ref = np.load(REFERENCE)
    if sha256_of(resource_path("models", "mtface_default.pt")) != str(ref["weights_sha256"]):
        pytest.skip("the shipped weights changed since the reference was computed")
    faces = sample_faces(ref["given_landmarks"], ref["refined_visible"])
    for name, face in faces.items():
        pose = np.array([face.pose.pitch, face.pose.yaw, face.pose.roll])
        for key, value in (
            ("landmarks", face.landmarks),
            ("vertices", face.vertices),
            ("stage1_landmarks", face.stages[0].landmarks),
            ("pose", pose),
        ):
            # 1e-5 relative to coordinates of a few hundred pixels and degrees
            np.testing.assert_allclose(
                value, ref[f"{name}_{key}"], rtol=1e-5, atol=1e-5, err_msg=f"{name} {key}"
            )
        # the reference holds the cascade's own (normal) visibility, which the last stage
        # keeps; the reported one is the depth test of ADR 28 (tests/core/test_visibility.py)
        assert np.array_equal(face.stages[-1].visible, ref[f"{name}_visible"]), name
