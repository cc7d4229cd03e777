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

Each stage has its own cell side (coarse to fine: the first steps see 16 px cells, the later
ones 8 px). The last steps can be *local* (:class:`LocalRefineStage`): every point has its own
small linear map from the histograms of itself and its nearest neighbours plus the centred
shape, instead of one map of the whole descriptor to all 68 displacements.

Everything here is numpy + OpenCV on one face: points (68, 2) in image pixels.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
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
#: Version of the saved file: 1 (no ``format_version`` key) holds global stages of one cell
#: side; 2 adds a cell side per stage (``cell_k``), local stages (``kind_k``) and the yaw range
#: of the local stages (``local_max_yaw_deg``; absent: no limit); 3 adds ``label_shift``
#: (absent: none).
FORMAT_VERSION = 3
#: Histogram values of one point (3 x 3 cells x 9 bins).
POINT_FEATURES = CELL_GRID.size**2 * ORIENTATION_BINS


@dataclass(frozen=True)
class RefineStage:
    """One descent step: displacement (136,) = (descriptor - mean) @ weights + bias, in
    canonical pixels, x and y interleaved per point; the descriptor (F = 68 * 81 + 136,) of
    :func:`descriptor` with ``cell`` px cells (0: the refiner's ``cell``)."""

    mean: np.ndarray  # (F,) float32
    weights: np.ndarray  # (F, 136) float32
    bias: np.ndarray  # (136,) float32
    cell: int = 0

    def step(self, maps: np.ndarray, points: np.ndarray, cell: int, face_size: float) -> np.ndarray:
        """maps (9, H, W) of :func:`orientation_maps` with ``cell``; points (68, 2) canonical
        pixels -> the displacements (68, 2), canonical pixels (not clipped)."""
        features = (descriptor(maps, points, cell, face_size) - self.mean).astype(np.float32)
        return (features @ self.weights + self.bias).reshape(-1, 2).astype(np.float64)


@dataclass(frozen=True)
class LocalRefineStage:
    """One descent step with a linear map per point: point p moves by
    (features_p - mean[p]) @ weights[p] + bias[p] canonical pixels, where features_p (F,) are
    the normalised histograms (81 each) of the points ``neighbours[p]`` (p first, K in all)
    followed by the centred shape (136), as :func:`local_features` makes them;
    F = K * 81 + 136. ``cell`` as in :class:`RefineStage`."""

    neighbours: np.ndarray  # (68, K) int64
    mean: np.ndarray  # (68, F) float32
    weights: np.ndarray  # (68, F, 2) float32
    bias: np.ndarray  # (68, 2) float32
    cell: int = 0

    def step(self, maps: np.ndarray, points: np.ndarray, cell: int, face_size: float) -> np.ndarray:
        """As :meth:`RefineStage.step`: maps (9, H, W), points (68, 2) -> (68, 2)."""
        features = local_features(maps, points, cell, face_size, self.neighbours)
        return np.einsum("pf,pfk->pk", features - self.mean, self.weights) + self.bias


@dataclass(frozen=True)
class Refiner2D:
    """The refiner's frame (``face_size`` and ``canvas`` in canonical pixels, ``cell`` the
    histogram cell side of stages that name none) and its stages; ``source`` says what it was
    fitted on. ``local_max_yaw_deg``: the largest |yaw| (degrees) among the faces the local
    stages were fitted on; on faces turned further only the global stages run (inf: always
    all stages). ``label_shift`` (2,): the labels' mean offset from the refined points in the
    canonical frame (pixels; x along the eye line), added last: a convention of the annotation
    that the mirror-symmetric stages cannot learn (ADR 11 addendum 2)."""

    face_size: float
    canvas: int
    cell: int
    stages: tuple[RefineStage | LocalRefineStage, ...]
    source: str
    local_max_yaw_deg: float = math.inf
    label_shift: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def stage_cell(self, stage: RefineStage | LocalRefineStage) -> int:
        """The histogram cell side (px) ``stage`` uses."""
        return stage.cell or self.cell

    def stages_for(self, yaw_deg: float | None) -> tuple[RefineStage | LocalRefineStage, ...]:
        """The stages that run on a face of ``yaw_deg`` (degrees; None: unknown, all run)."""
        if yaw_deg is None or abs(yaw_deg) <= self.local_max_yaw_deg:
            return self.stages
        return tuple(s for s in self.stages if not isinstance(s, LocalRefineStage))

    def refine(
        self, image: np.ndarray, points: np.ndarray, yaw_deg: float | None = None
    ) -> np.ndarray:
        """image (H, W) grey or (H, W, 3) RGB uint8; points (68, 2) image pixels; the face's
        yaw in degrees when known (it chooses the stages: :meth:`stages_for`) -> the refined
        points (68, 2), image pixels."""
        to_canvas = canonical_frame(points, self.face_size, self.canvas)
        planes = orientation_planes(warp_grey(image, to_canvas, self.canvas))
        maps_of_cell: dict[int, np.ndarray] = {}
        current = apply_affine(to_canvas, np.asarray(points, dtype=np.float64))
        for stage in self.stages_for(yaw_deg):
            cell = self.stage_cell(stage)
            if cell not in maps_of_cell:
                maps_of_cell[cell] = cell_sums(planes, cell)
            step = stage.step(maps_of_cell[cell], current, cell, self.face_size)
            current = current + clip_steps(step, MAX_STEP_FRACTION * self.face_size)
        current = current + self.label_shift
        return apply_affine(cv2.invertAffineTransform(to_canvas), current)

    def save(self, path: Path) -> None:
        """Write the refiner as a compressed .npz of :meth:`to_arrays` (atomically)."""
        from mtface.core.formats.atomic import atomic_write_bytes

        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.to_arrays())
        atomic_write_bytes(Path(path), buffer.getvalue())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The refiner as named arrays (the .npz's entries; a model file holds the same:
        core/model_file.py), weights in float16."""
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(FORMAT_VERSION),
            "face_size": np.array(self.face_size),
            "canvas": np.array(self.canvas),
            "cell": np.array(self.cell),
            "source": np.array(self.source),
            "stages": np.array(len(self.stages)),
            "local_max_yaw_deg": np.array(self.local_max_yaw_deg),
            "label_shift": np.asarray(self.label_shift, np.float64),
        }
        for k, stage in enumerate(self.stages):
            local = isinstance(stage, LocalRefineStage)
            arrays[f"kind_{k}"] = np.array("local" if local else "global")
            arrays[f"cell_{k}"] = np.array(self.stage_cell(stage))
            if local:
                arrays[f"neighbours_{k}"] = stage.neighbours.astype(np.int16)
            arrays[f"mean_{k}"] = stage.mean.astype(np.float32)
            arrays[f"weights_{k}"] = stage.weights.astype(np.float16)
            arrays[f"bias_{k}"] = stage.bias.astype(np.float32)
        return arrays

    @staticmethod
    def load(path: Path) -> Refiner2D:
        """A refiner saved by :meth:`save` (any ``FORMAT_VERSION`` up to the current one);
        RuntimeError when unreadable."""
        return _load_cached(str(path))

    @staticmethod
    def from_arrays(arrays: Mapping[str, np.ndarray], origin: str) -> Refiner2D:
        """A refiner from the arrays of :meth:`to_arrays` (or of an older version's file);
        RuntimeError naming ``origin`` (a file, a model's part) when they are not one."""
        try:
            return _checked(_from_arrays(arrays), origin)
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise RuntimeError(f"cannot read the 2D landmark refiner {origin}: {exc}") from exc


def _load_stage(
    data: Mapping[str, np.ndarray], k: int, version: int
) -> RefineStage | LocalRefineStage:
    mean = data[f"mean_{k}"].astype(np.float32)
    weights = data[f"weights_{k}"].astype(np.float32)
    bias = data[f"bias_{k}"].astype(np.float32)
    if version < 2:
        return RefineStage(mean, weights, bias)
    cell = int(data[f"cell_{k}"])
    kind = str(data[f"kind_{k}"])
    if kind == "global":
        return RefineStage(mean, weights, bias, cell)
    if kind == "local":
        return LocalRefineStage(data[f"neighbours_{k}"].astype(np.int64), mean, weights, bias, cell)
    raise ValueError(f"unknown stage kind {kind!r}")


def _stage_shapes_ok(stage: RefineStage | LocalRefineStage) -> bool:
    if isinstance(stage, RefineStage):
        return stage.weights.shape == (stage.mean.shape[0], 136) and stage.bias.shape == (136,)
    nb = stage.neighbours
    features = nb.shape[1] * POINT_FEATURES + 136 if nb.ndim == 2 else -1
    return (
        nb.shape[:1] == (68,)
        and bool(((nb >= 0) & (nb < 68)).all())
        and stage.mean.shape == (68, features)
        and stage.weights.shape == (68, features, 2)
        and stage.bias.shape == (68, 2)
    )


def _from_arrays(data: Mapping[str, np.ndarray]) -> Refiner2D:
    version = int(data["format_version"]) if "format_version" in data else 1
    if version > FORMAT_VERSION:
        raise ValueError(
            f"format version {version} is newer than this mtface reads ({FORMAT_VERSION})"
        )
    stages = tuple(_load_stage(data, k, version) for k in range(int(data["stages"])))
    return Refiner2D(
        float(data["face_size"]),
        int(data["canvas"]),
        int(data["cell"]),
        stages,
        str(data["source"]),
        float(data["local_max_yaw_deg"]) if "local_max_yaw_deg" in data else math.inf,
        np.asarray(data["label_shift"], np.float64).reshape(2)
        if "label_shift" in data
        else np.zeros(2),
    )


@lru_cache(maxsize=4)
def _load_cached(path: str) -> Refiner2D:
    try:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        refiner = _from_arrays(arrays)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RuntimeError(f"cannot read the 2D landmark refiner {path}: {exc}") from exc
    return _checked(refiner, path)


def _checked(refiner: Refiner2D, path: str) -> Refiner2D:
    """``refiner`` when its arrays have the right shapes and are finite; else RuntimeError."""
    if not np.isfinite(refiner.label_shift).all():
        raise RuntimeError(f"cannot read the 2D landmark refiner {path}: non-finite label shift")
    for stage in refiner.stages:
        if not _stage_shapes_ok(stage) or refiner.stage_cell(stage) < 1:
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


def orientation_planes(grey: np.ndarray) -> np.ndarray:
    """grey (H, W) uint8 -> (9, H, W) float32: the gradient magnitude of each pixel in the
    plane of its orientation bin, zero in the others."""
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1)
    magnitude = cv2.magnitude(gx, gy)
    bins = np.minimum(
        ((np.arctan2(gy, gx) % np.pi) * (ORIENTATION_BINS / np.pi)).astype(np.int64),
        ORIENTATION_BINS - 1,
    )
    planes = np.zeros((ORIENTATION_BINS, g.size), np.float32)
    planes[bins.ravel(), np.arange(g.size)] = magnitude.ravel()
    return planes.reshape(ORIENTATION_BINS, *g.shape)


def cell_sums(planes: np.ndarray, cell: int) -> np.ndarray:
    """planes (9, H, W) of :func:`orientation_planes` -> (9, H, W) float32: each summed over
    the ``cell`` x ``cell`` square centred at every pixel."""
    sums = np.empty_like(planes)
    for k in range(len(planes)):
        cv2.boxFilter(planes[k], -1, (cell, cell), dst=sums[k], normalize=False)
    return sums


def orientation_maps(grey: np.ndarray, cell: int) -> np.ndarray:
    """grey (H, W) uint8 -> (9, H, W) float32: at every pixel, the gradient magnitude of each
    orientation bin summed over the ``cell`` x ``cell`` square centred there."""
    return cell_sums(orientation_planes(grey), cell)


def point_histograms(maps: np.ndarray, points: np.ndarray, cell: int) -> np.ndarray:
    """maps (9, H, W) from :func:`orientation_maps`; points (N, 2) canonical pixels ->
    (N, 81) float64: per point the 3 x 3 cells' histograms, normalised and square-rooted."""
    _, height, width = maps.shape
    offsets = CELL_GRID * cell
    xs = np.clip(np.round(points[:, 0:1] + offsets), 0, width - 1).astype(np.int64)
    ys = np.clip(np.round(points[:, 1:2] + offsets), 0, height - 1).astype(np.int64)
    cells = maps[:, ys[:, :, None], xs[:, None, :]]  # (9, N, 3, 3)
    local = cells.transpose(1, 2, 3, 0).reshape(len(points), -1).astype(np.float64)
    return np.sqrt(local / (np.linalg.norm(local, axis=1, keepdims=True) + 1e-3))


def shape_features(points: np.ndarray, face_size: float) -> np.ndarray:
    """points (68, 2) canonical pixels -> (136,): centred / face size x SHAPE_FEATURE_SCALE."""
    return ((points - points.mean(0)) / face_size * SHAPE_FEATURE_SCALE).ravel()


def descriptor(maps: np.ndarray, points: np.ndarray, cell: int, face_size: float) -> np.ndarray:
    """maps (9, H, W) from :func:`orientation_maps`; points (68, 2) canonical pixels -> the
    descriptor (68 * 81 + 136,) float64: :func:`point_histograms` of every point, then
    :func:`shape_features`."""
    local = point_histograms(maps, points, cell)
    return np.concatenate([local.ravel(), shape_features(points, face_size)])


def local_features(
    maps: np.ndarray,
    points: np.ndarray,
    cell: int,
    face_size: float,
    neighbours: np.ndarray,
) -> np.ndarray:
    """maps (9, H, W), points (68, 2) canonical pixels, neighbours (68, K) point indices ->
    (68, K * 81 + 136) float64: row p is the :func:`point_histograms` of the points
    ``neighbours[p]`` followed by :func:`shape_features`."""
    local = point_histograms(maps, points, cell)[neighbours].reshape(len(points), -1)
    shape = np.broadcast_to(shape_features(points, face_size), (len(points), 2 * len(points)))
    return np.concatenate([local, shape], axis=1)
