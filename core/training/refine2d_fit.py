"""Fitting the 2D landmark refiner (core/refine2d.py) on human labels.

Training pairs are (photo, the model's 2D-convention points, the human points). The model's
points on its own training photos are better than on new photos, so every face also appears
with its points perturbed (independent noise per point plus one shift of the whole face, in
inter-ocular units) and mirrored. Each stage is a ridge regression from descriptors to the
remaining displacement; the next stage starts where the previous one moved the points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtface.core.refine2d import (
    Refiner2D,
    RefineStage,
    apply_affine,
    canonical_frame,
    descriptor,
    orientation_maps,
    warp_grey,
)

JAW = slice(0, 17)


@dataclass(frozen=True)
class RefinerFitConfig:
    """``stages`` descent steps, each a ridge regression with penalty ``ridge``;
    ``perturbations`` copies of every face (the first unperturbed) with noise of
    ``jaw_noise`` / ``inner_noise`` per point and ``shift_noise`` for the whole face (standard
    deviations in inter-ocular distances); ``mirror`` adds the mirrored photos."""

    stages: int = 2
    ridge: float = 1000.0
    perturbations: int = 5
    jaw_noise: float = 0.035
    inner_noise: float = 0.02
    shift_noise: float = 0.03
    mirror: bool = True
    face_size: float = 160.0
    canvas: int = 256
    cell: int = 8
    seed: int = 0


def mirrored(
    grey: np.ndarray, points: np.ndarray, flip_permutation: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A grey photo and its points (68, 2) mirrored left-right (``flip_permutation`` swaps
    the two sides' landmark indices)."""
    width = grey.shape[1]
    flipped = np.stack([width - 1 - points[flip_permutation, 0], points[flip_permutation, 1]], 1)
    return np.ascontiguousarray(grey[:, ::-1]), flipped


def fit_refiner(
    greys: Sequence[np.ndarray],
    predicted: np.ndarray,
    human: np.ndarray,
    flip_permutation: np.ndarray,
    config: RefinerFitConfig | None = None,
    source: str = "",
) -> Refiner2D:
    """greys: N grey uint8 photos; predicted, human (N, 68, 2) image pixels -> a Refiner2D."""
    config = config or RefinerFitConfig()
    faces = list(zip(greys, np.asarray(predicted, np.float64), np.asarray(human, np.float64)))
    if config.mirror:
        for grey, pred, gt in list(faces):
            m_grey, m_pred = mirrored(grey, pred, flip_permutation)
            faces.append((m_grey, m_pred, mirrored(grey, gt, flip_permutation)[1]))
    rng = np.random.default_rng(config.seed)
    frames, starts, targets = [], [], []
    for _, pred, gt in faces:
        frame = canonical_frame(pred, config.face_size, config.canvas)
        interocular = float(np.linalg.norm(gt[36] - gt[45]))
        for k in range(config.perturbations):
            start = pred.copy()
            if k:
                noise = rng.normal(0.0, config.inner_noise, (68, 2))
                noise[JAW] = rng.normal(0.0, config.jaw_noise, (17, 2))
                start += (noise + rng.normal(0.0, config.shift_noise, (1, 2))) * interocular
            starts.append(apply_affine(frame, start))
            targets.append(apply_affine(frame, gt))
        frames.append(frame)
    current = np.stack(starts)
    target = np.stack(targets)
    stages = []
    for _ in range(config.stages):
        features = _descriptors(faces, frames, current, config)
        mean = features.mean(0)
        centred = features - mean
        displacement = (target - current).reshape(len(current), -1)
        bias = displacement.mean(0)
        gram = centred.T @ centred
        gram[np.diag_indices_from(gram)] += config.ridge
        weights = np.linalg.solve(gram, centred.T @ (displacement - bias))
        current = current + (centred @ weights + bias).reshape(current.shape)
        stages.append(
            RefineStage(
                mean.astype(np.float32), weights.astype(np.float32), bias.astype(np.float32)
            )
        )
    return Refiner2D(config.face_size, config.canvas, config.cell, tuple(stages), source)


def _descriptors(
    faces: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    frames: list[np.ndarray],
    current: np.ndarray,
    config: RefinerFitConfig,
) -> np.ndarray:
    rows = []
    for f, ((grey, _, _), frame) in enumerate(zip(faces, frames)):
        maps = orientation_maps(warp_grey(grey, frame, config.canvas), config.cell)
        for k in range(config.perturbations):
            points = current[f * config.perturbations + k]
            rows.append(descriptor(maps, points, config.cell, config.face_size))
    return np.stack(rows)
