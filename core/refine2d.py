"""A learned correction of the 2D-convention landmarks on the photo (docs/adr/0011).

The cascade sees a 120 px crop and learns from labels that are mostly a teacher's; people who
annotate 300-W-style photos place the points from the photo's own edges. The refiner moves
the 68 2D-convention points (core/landmarks2d.py) by a few linear *supervised descent* steps
(Xiong and De la Torre, CVPR 2013) fitted on human labels:

1. the photo is mapped to a canonical frame by the similarity that puts the current points'
   face at ``face_size`` pixels, eye line horizontal, centred in a ``canvas`` square;
2. around every point, gradient-orientation histograms (9 unsigned bins) of a 3 x 3 grid of
   ``cell`` x ``cell`` cells, normalised per point and square-rooted, plus the points' own
   centred coordinates, form one descriptor;
3. a linear map of the descriptor gives the 68 displacements in the canonical frame;
   repeated for every stage, then mapped back to the photo.

Everything here is numpy + OpenCV on one face: points (68, 2) in image pixels.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

#: Outer eye corners of the iBUG-68 layout (0-based): the canonical frame's horizontal axis.
EYE_CORNERS_68: tuple[int, int] = (36, 45)
#: Orientation bins of the descriptor (unsigned gradients, 0-180 degrees).
ORIENTATION_BINS = 9
#: Cell centres of the 3 x 3 grid around a point, in cells.
CELL_GRID = np.array([-1.0, 0.0, 1.0])
#: Weight of the shape part of the descriptor (centred points / face size).
SHAPE_FEATURE_SCALE = 3.0
#: The longest move of one point in one step, as a fraction of the face size: a guard for
#: photos unlike the training ones (on the 300-W photos the longest move was 0.09).
MAX_STEP_FRACTION = 0.12


@dataclass(frozen=True)
class RefineStage:
    """One descent step: displacement (136,) = (descriptor - mean) @ weights + bias, in
    canonical pixels, x and y interleaved per point."""

    mean: np.ndarray  # (F,) float32
    weights: np.ndarray  # (F, 136) float32
    bias: np.ndarray  # (136,) float32


@dataclass(frozen=True)
class Refiner2D:
    """The refiner's frame (``face_size`` and ``canvas`` in canonical pixels, ``cell`` the
    histogram cell side) and its stages; ``source`` says what it was fitted on."""

    face_size: float
    canvas: int
    cell: int
    stages: tuple[RefineStage, ...]
    source: str

    def refine(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """image (H, W) grey or (H, W, 3) RGB uint8; points (68, 2) image pixels -> the refined
        points (68, 2), image pixels."""
        to_canvas = canonical_frame(points, self.face_size, self.canvas)
        maps = orientation_maps(warp_grey(image, to_canvas, self.canvas), self.cell)
        current = apply_affine(to_canvas, np.asarray(points, dtype=np.float64))
        for stage in self.stages:
            features = descriptor(maps, current, self.cell, self.face_size)
            step = ((features - stage.mean) @ stage.weights + stage.bias).reshape(-1, 2)
            current = current + clip_steps(step, MAX_STEP_FRACTION * self.face_size)
        return apply_affine(cv2.invertAffineTransform(to_canvas), current)

    def save(self, path: Path) -> None:
        from mtface.core.formats.atomic import atomic_write_bytes

        arrays: dict[str, np.ndarray] = {
            "face_size": np.array(self.face_size),
            "canvas": np.array(self.canvas),
            "cell": np.array(self.cell),
            "source": np.array(self.source),
            "stages": np.array(len(self.stages)),
        }
        for k, stage in enumerate(self.stages):
            arrays[f"mean_{k}"] = stage.mean.astype(np.float32)
            arrays[f"weights_{k}"] = stage.weights.astype(np.float16)
            arrays[f"bias_{k}"] = stage.bias.astype(np.float32)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(Path(path), buffer.getvalue())

    @staticmethod
    def load(path: Path) -> Refiner2D:
        """A refiner saved by :meth:`save`; RuntimeError when unreadable."""
        return _load_cached(str(path))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> Refiner2D:
    try:
        with np.load(path) as data:
            stages = tuple(
                RefineStage(
                    data[f"mean_{k}"].astype(np.float32),
                    data[f"weights_{k}"].astype(np.float32),
                    data[f"bias_{k}"].astype(np.float32),
                )
                for k in range(int(data["stages"]))
            )
            refiner = Refiner2D(
                float(data["face_size"]),
                int(data["canvas"]),
                int(data["cell"]),
                stages,
                str(data["source"]),
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RuntimeError(f"cannot read the 2D landmark refiner {path}: {exc}") from exc
    for stage in refiner.stages:
        if stage.weights.shape != (stage.mean.shape[0], 136) or stage.bias.shape != (136,):
            raise RuntimeError(f"cannot read the 2D landmark refiner {path}: bad stage shapes")
        if not all(np.isfinite(a).all() for a in (stage.mean, stage.weights, stage.bias)):
            raise RuntimeError(f"cannot read the 2D landmark refiner {path}: non-finite values")
    return refiner


def clip_steps(steps: np.ndarray, longest: float) -> np.ndarray:
    """steps (N, 2) shortened, keeping their direction, to at most ``longest`` each."""
    length = np.linalg.norm(steps, axis=1, keepdims=True)
    return steps * np.minimum(1.0, longest / np.maximum(length, 1e-12))


def canonical_frame(points: np.ndarray, face_size: float, canvas: int) -> np.ndarray:
    """points (68, 2) image pixels -> the (2, 3) affine map to the canonical frame: rotation
    putting the outer eye corners on a horizontal line, scale making sqrt(w * h) of the rotated
    points' box ``face_size``, their mean at the canvas centre."""
    p = np.asarray(points, dtype=np.float64)
    axis = p[EYE_CORNERS_68[1]] - p[EYE_CORNERS_68[0]]
    axis = axis / max(float(np.linalg.norm(axis)), 1e-9)
    rotation = np.array([axis, [-axis[1], axis[0]]])
    rotated = (p - p.mean(0)) @ rotation.T
    extent = rotated.max(0) - rotated.min(0)
    scale = face_size / max(float(np.sqrt(max(extent[0] * extent[1], 1e-9))), 1e-9)
    affine = np.zeros((2, 3))
    affine[:, :2] = scale * rotation
    affine[:, 2] = canvas / 2.0 - scale * rotation @ p.mean(0)
    return affine


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(2, 3) affine, points (N, 2) -> (N, 2)."""
    return points @ affine[:, :2].T + affine[:, 2]


def warp_grey(image: np.ndarray, affine: np.ndarray, canvas: int) -> np.ndarray:
    """The canonical canvas (canvas, canvas) uint8 grey of an RGB or grey uint8 image."""
    warped = cv2.warpAffine(
        np.ascontiguousarray(image), affine, (canvas, canvas), flags=cv2.INTER_LINEAR
    )
    return cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY) if warped.ndim == 3 else warped


def orientation_maps(grey: np.ndarray, cell: int) -> np.ndarray:
    """grey (H, W) uint8 -> (9, H, W) float32: at every pixel, the gradient magnitude of each
    orientation bin summed over the ``cell`` x ``cell`` square centred there."""
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1)
    magnitude = cv2.magnitude(gx, gy)
    bins = np.minimum(
        ((np.arctan2(gy, gx) % np.pi) * (ORIENTATION_BINS / np.pi)).astype(np.int64),
        ORIENTATION_BINS - 1,
    )
    maps = np.empty((ORIENTATION_BINS, *g.shape), np.float32)
    for k in range(ORIENTATION_BINS):
        plane = np.where(bins == k, magnitude, 0.0).astype(np.float32)
        maps[k] = cv2.boxFilter(plane, -1, (cell, cell), normalize=False)
    return maps


def descriptor(maps: np.ndarray, points: np.ndarray, cell: int, face_size: float) -> np.ndarray:
    """maps (9, H, W) from :func:`orientation_maps`; points (68, 2) canonical pixels -> the
    descriptor (68 * 81 + 136,) float64: per point the 3 x 3 cells' histograms, normalised and
    square-rooted, then the centred points / face size x ``SHAPE_FEATURE_SCALE``."""
    _, height, width = maps.shape
    offsets = CELL_GRID * cell
    xs = np.clip(np.round(points[:, 0:1] + offsets), 0, width - 1).astype(np.int64)
    ys = np.clip(np.round(points[:, 1:2] + offsets), 0, height - 1).astype(np.int64)
    cells = maps[:, ys[:, :, None], xs[:, None, :]]  # (9, 68, 3, 3)
    local = cells.transpose(1, 2, 3, 0).reshape(len(points), -1).astype(np.float64)
    local = np.sqrt(local / (np.linalg.norm(local, axis=1, keepdims=True) + 1e-3))
    shape = (points - points.mean(0)) / face_size * SHAPE_FEATURE_SCALE
    return np.concatenate([local.ravel(), shape.ravel()])
