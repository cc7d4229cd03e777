"""Fitting the 2D landmark refiner (core/refine2d.py) on human labels.

Training pairs are (photo, the model's 2D-convention points, the human points). The model's
points on its own training photos are better than on new photos, so every face also appears
with its points perturbed (independent noise per point plus one shift of the whole face, in
inter-ocular units) and mirrored. Each stage is a ridge regression from descriptors to the
remaining displacement; the next stage starts where the previous one moved the points. The
global stages (one map of the whole descriptor) go coarse to fine (16 then 8 px cells); the
local stages after them fit one small map per point (its own and its nearest neighbours'
histograms plus the shape), with finer cells again (6 then 4 px). The local stages are
specific to the poses they saw: the refiner records the largest |yaw| of its training faces and
runs only its global stages on faces turned further.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.refine2d import (
    POINT_FEATURES,
    LocalRefineStage,
    Refiner2D,
    RefineStage,
    apply_affine,
    canonical_frame,
    cell_sums,
    orientation_planes,
    point_histograms,
    shape_features,
    warp_grey,
)

JAW = slice(0, 17)


@dataclass(frozen=True)
class RefinerFitConfig:
    """``stages`` global descent steps, each a ridge regression with penalty ``ridge`` on
    histograms of ``cells[k]`` px cells (stages beyond ``cells`` use its last); then one local
    step (a ridge regression per point, penalty ``local_ridge``, on the histograms of the point
    and its ``local_neighbours`` nearest points) for each of ``local_cells``;
    ``perturbations`` copies of every face (the first unperturbed) with noise of
    ``jaw_noise`` / ``inner_noise`` per point and ``shift_noise`` for the whole face (standard
    deviations in inter-ocular distances); ``mirror`` adds the mirrored photos;
    ``label_shift`` keeps the labels' mean offset that remains on the unmirrored photos."""

    stages: int = 2
    ridge: float = 1000.0
    cells: tuple[int, ...] = (16, 8)
    local_cells: tuple[int, ...] = (6, 4)
    local_neighbours: int = 3
    local_ridge: float = 100.0
    perturbations: int = 5
    jaw_noise: float = 0.08
    inner_noise: float = 0.014
    shift_noise: float = 0.021
    mirror: bool = True
    label_shift: bool = True
    face_size: float = 160.0
    canvas: int = 256
    seed: int = 0

    def global_cells(self) -> tuple[int, ...]:
        """The cell side (px) of each of the ``stages`` global stages."""
        return tuple(self.cells[min(k, len(self.cells) - 1)] for k in range(self.stages))


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
    yaws_deg: np.ndarray | None = None,
) -> Refiner2D:
    """greys: N grey uint8 photos; predicted, human (N, 68, 2) image pixels; yaws_deg (N,)
    the model's yaw of each face, degrees (its largest |yaw| becomes the refiner's
    ``local_max_yaw_deg``; None: no limit) -> a Refiner2D. ValueError when ``config`` asks
    for no stage at all."""
    config = config or RefinerFitConfig()
    if not config.global_cells() and not config.local_cells:
        raise ValueError("a 2D refiner needs at least one stage")
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
    neighbours = nearest_points(target.mean(0), config.local_neighbours)
    stages: list[RefineStage | LocalRefineStage] = []
    for cell in config.global_cells():
        histograms, shapes = _point_histograms(faces, frames, current, config, cell)
        # the descriptor of every training start (N, 68 * 81 + 136), as core/refine2d.py's
        features = np.concatenate([histograms.reshape(len(histograms), -1), shapes], axis=1)
        displacement = (target - current).reshape(len(current), -1)
        mean, weights, bias = _ridge(features, displacement, config.ridge)
        current = current + ((features - mean) @ weights + bias).reshape(current.shape)
        stages.append(RefineStage(mean, weights, bias, cell))
    for cell in config.local_cells:
        histograms, shapes = _point_histograms(faces, frames, current, config, cell)
        count, points = len(current), current.shape[1]
        features = neighbours.shape[1] * POINT_FEATURES + 2 * points
        means = np.empty((points, features), np.float32)
        weights_p = np.empty((points, features, 2), np.float32)
        biases = np.empty((points, 2), np.float32)
        step = np.empty_like(current)
        for p in range(points):
            x = np.concatenate([histograms[:, neighbours[p]].reshape(count, -1), shapes], 1)
            remaining = target[:, p] - current[:, p]
            means[p], weights_p[p], biases[p] = _ridge(x, remaining, config.local_ridge)
            step[:, p] = (x - means[p]) @ weights_p[p] + biases[p]
        current = current + step
        stages.append(LocalRefineStage(neighbours, means, weights_p, biases, cell))
    # every stage names its cell; the refiner's own is only the fallback of version-1 files
    cells = config.global_cells() + tuple(config.local_cells)
    local_max_yaw = (
        float(np.abs(yaws_deg).max()) if yaws_deg is not None and len(yaws_deg) else math.inf
    )
    # The unmirrored photos' starts come first. Mirroring makes the stages symmetric, so a
    # one-sided habit of the annotation (300-W's points sit about 0.4 px right of the mirrored
    # estimate) stays in their residual: its mean is the label shift.
    unmirrored = len(greys) * config.perturbations
    residual = (target[:unmirrored] - current[:unmirrored]).mean(axis=(0, 1))
    label_shift = residual if config.label_shift else np.zeros(2)
    return Refiner2D(
        config.face_size,
        config.canvas,
        cells[0],
        tuple(stages),
        source,
        local_max_yaw,
        label_shift.astype(np.float64),
    )


def nearest_points(shape: np.ndarray, count: int) -> np.ndarray:
    """shape (68, 2) -> (68, count + 1) int64: each point, then its ``count`` nearest other
    points (nearest first; ties by index)."""
    distance = np.linalg.norm(shape[:, None] - shape[None], axis=2)
    np.fill_diagonal(distance, -1.0)
    return np.argsort(distance, axis=1, kind="stable")[:, : count + 1].astype(np.int64)


def _ridge(
    x: np.ndarray, y: np.ndarray, penalty: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (N, F), y (N, D) -> mean (F,), weights (F, D), bias (D,) float32 minimising
    |(x - mean) @ weights + bias - y|^2 + penalty |weights|^2."""
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    centred = x - mean
    bias = y.mean(0)
    gram = centred.T @ centred
    gram[np.diag_indices_from(gram)] += penalty
    weights = np.linalg.solve(gram, centred.T @ (y - bias))
    return mean.astype(np.float32), weights.astype(np.float32), bias.astype(np.float32)


def _maps(grey: np.ndarray, frame: np.ndarray, config: RefinerFitConfig, cell: int) -> np.ndarray:
    return cell_sums(orientation_planes(warp_grey(grey, frame, config.canvas)), cell)


def _point_histograms(
    faces: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    frames: list[np.ndarray],
    current: np.ndarray,
    config: RefinerFitConfig,
    cell: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The :func:`point_histograms` (N, 68, 81) float32 and :func:`shape_features` (N, 136)
    float32 of every training start."""
    histograms, shapes = [], []
    for f, ((grey, _, _), frame) in enumerate(zip(faces, frames)):
        maps = _maps(grey, frame, config, cell)
        for k in range(config.perturbations):
            points = current[f * config.perturbations + k]
            histograms.append(point_histograms(maps, points, cell).astype(np.float32))
            shapes.append(shape_features(points, config.face_size).astype(np.float32))
    return np.stack(histograms), np.stack(shapes)


@dataclass(frozen=True)
class RefinerFitReport:
    """What ``fit_on_label_folder`` did: the refiner, the faces of each part, and the
    inter-ocular NME (%) of each part without and with it, with the per-region errors."""

    refiner: Refiner2D
    train_faces: int
    val_faces: int
    errors: dict[str, dict[str, float]]  # "model train" / "refined val" ... -> figures

    def held_out(self) -> tuple[float, float] | None:
        """Inter-ocular NME (%) of the held-out faces without and with the refiner; None when
        the label folder holds no held-out face."""
        if "model val" not in self.errors or "refined val" not in self.errors:
            return None
        return self.errors["model val"]["nme_io"], self.errors["refined val"]["nme_io"]

    @property
    def makes_worse(self) -> bool:
        """True when the refiner makes the held-out error worse (it must not be used then)."""
        figures = self.held_out()
        return figures is not None and figures[1] > figures[0]

    def held_out_line(self) -> str:
        """``held-out inter-ocular NME 4.08 -> 4.26 % (worse)``, or why there is none."""
        figures = self.held_out()
        if figures is None:
            return "no held-out faces in the label folder: the refiner's effect is not measured"
        verdict = "worse" if self.makes_worse else "better or equal"
        return (
            f"held-out inter-ocular NME without -> with the refiner: {figures[0]:.2f} -> "
            f"{figures[1]:.2f} % ({verdict}; {self.val_faces} faces)"
        )


def fit_on_label_folder(
    labels_dir: Path,
    weights: Path | None = None,
    config: RefinerFitConfig | None = None,
) -> RefinerFitReport:
    """Fit the refiner of ``weights`` (default: the shipped model) on the TRAINING photos of a
    label folder from ``mtface data import-annotations``; its validation photos are only
    scored. The model predicts each photo's 2d landmarks on the protocol crop of the human
    points, without a refiner. Raises ValueError for a folder without human labels or
    without training photos, WeightsError for unusable weights."""
    import cv2

    from mtface.core.data.labels import load_human_labels
    from mtface.core.evaluation import nme_interocular, region_errors
    from mtface.core.geometry import box_of_points
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor
    from mtface.core.types import FaceBox

    labels, val = load_human_labels(labels_dir)
    if val.all():
        raise ValueError(f"{labels_dir}: every photo is a validation photo; nothing to fit on")
    human = labels.human_landmarks[..., :2].astype(np.float64)
    predictor = Predictor.from_weights(weights, landmarks="2d", refiner_2d=None)
    images, predicted, yaws = [], [], []
    for i in range(len(labels)):
        image = load_image(labels.images_root / str(labels.paths[i]))
        box = FaceBox(*box_of_points(human[i]))
        face = predictor.predict(image, [box], box_kind="landmarks", refine=False).faces[0]
        images.append(image)
        predicted.append(face.landmarks_2d.astype(np.float64))
        yaws.append(face.pose.yaw)
    predicted_a = np.stack(predicted)
    train = np.nonzero(~val)[0]
    refiner = fit_refiner(
        [cv2.cvtColor(images[i], cv2.COLOR_RGB2GRAY) for i in train],
        predicted_a[train],
        human[train],
        predictor.topology.landmark_flip_permutation,
        config,
        source=f"fitted on {len(train)} training faces of {labels.manifest.get('source')} "
        f"with {weights or 'the shipped model'} (mtface data fit-refiner)",
        yaws_deg=np.array(yaws)[train],
    )
    refined = np.stack(
        [refiner.refine(images[i], predicted_a[i], yaws[i]) for i in range(len(labels))]
    )
    errors: dict[str, dict[str, float]] = {}
    for name, points in (("model", predicted_a), ("refined", refined)):
        for part, mask in (("train", ~val), ("val", val)):
            if not mask.any():
                continue
            interocular = np.linalg.norm(human[mask, 36] - human[mask, 45], axis=1)
            errors[f"{name} {part}"] = {
                "nme_io": float(nme_interocular(points[mask], human[mask]).mean()),
                **region_errors(points[mask], human[mask], interocular),
            }
    return RefinerFitReport(refiner, int((~val).sum()), int(val.sum()), errors)
