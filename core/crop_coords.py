"""The model's units: normalised crop coordinates and the pose scale, each defined once here.

For a square crop of side S pixels (pixel centres at integers, so the crop's centre is the pixel
coordinate (S - 1) / 2):

* x_n = (x - (S - 1) / 2) / (S / 2), likewise y; z_n = z / (S / 2) (z keeps its own origin:
  the training targets centre it on the shape, see ``core/training/dataset.py``).
* pose_n = pose in degrees / ``POSE_SCALE_DEGREES`` (90), for pitch, yaw and roll alike.

The functions take numpy arrays or torch tensors, ``(..., 2)`` (x, y) or ``(..., 3)`` (x, y, z),
and compute in the input's floating-point dtype (a float32 input gives a float32 result; integers
become float64), so the cascade, the predictor, the training set and the tools all get the same
numbers from one formula.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

#: Pose in degrees = the model's pose output x POSE_SCALE_DEGREES.
POSE_SCALE_DEGREES = 90.0

Points = TypeVar("Points")


def _checked(points: Points, size: int) -> Points:
    """``points`` as floating point (integers become float64); ValueError unless (..., 2) or
    (..., 3) and ``size`` >= 1. Sizes traced by the ONNX export are tensors and not checked."""
    shape = getattr(points, "shape", None)
    if (
        shape is None
        or len(shape) == 0
        or (isinstance(shape[-1], (int, np.integer)) and shape[-1] not in (2, 3))
    ):
        raise ValueError(f"points must be (..., 2) or (..., 3), not shape {shape}")
    if size < 1:
        raise ValueError(f"crop size must be >= 1 pixel, not {size}")
    if hasattr(points, "is_floating_point"):  # a torch tensor
        return points if points.is_floating_point() else points.double()  # type: ignore
    return points if points.dtype.kind == "f" else points.astype(np.float64)  # type: ignore


def _shift(points: Points, centre: float) -> Points:
    """The offset (centre, centre[, 0]) of (..., 2 or 3) points, in their backend and dtype."""
    if hasattr(points, "new_tensor"):  # a torch tensor: same dtype and device
        shift = points.new_tensor([centre, centre, 0.0])  # type: ignore[attr-defined]
    else:
        shift = np.asarray([centre, centre, 0.0], dtype=points.dtype)  # type: ignore
    return shift[: points.shape[-1]]  # type: ignore[attr-defined]


def crop_to_normalised(points: Points, size: int) -> Points:
    """Crop pixels -> normalised crop coordinates. (..., 2) or (..., 3) -> same shape.

    x_n = (x - (size - 1) / 2) / (size / 2), likewise y; z_n = z / (size / 2).
    """
    points = _checked(points, size)
    return (points - _shift(points, (size - 1) / 2.0)) / (size / 2.0)  # type: ignore[operator]


def normalised_to_crop(points: Points, size: int) -> Points:
    """Normalised crop coordinates -> crop pixels; the inverse of :func:`crop_to_normalised`.

    (..., 2) or (..., 3) -> same shape: x = x_n * size / 2 + (size - 1) / 2; z = z_n * size / 2.
    """
    points = _checked(points, size)
    return points * (size / 2.0) + _shift(points, (size - 1) / 2.0)  # type: ignore[operator]


def pose_to_normalised(degrees: Points) -> Points:
    """Pose in degrees (..., 3) (pitch, yaw, roll) or one angle -> the model's pose units."""
    return degrees / POSE_SCALE_DEGREES  # type: ignore[operator]


def pose_from_normalised(pose: Points) -> Points:
    """The model's pose units (..., 3) or one value -> degrees; inverse of
    :func:`pose_to_normalised`."""
    return pose * POSE_SCALE_DEGREES  # type: ignore[operator]
