"""Fit a model's 3d landmark offsets (core/landmarks3d.py, ADR 15) on 3DMM-fitted photos.

Each folder holds photos with a Basel Face Model fit beside them (``.jpg`` + ``.mat``: 300W-LP,
the AFLW2000-3D subset). A photo's label is its ``pt3d_68`` when the ``.mat`` has one, else the
fit's own 68 keypoints (which needs the BFM bases). The model predicts each photo from the tight
box of its label (the evaluation protocol's crop, one pass, no offsets); the offsets are the
mirror-symmetric mean face-frame displacement to the labels. Leave-one-out figures (each face
corrected by offsets fitted on the others) say what to expect on faces the fit did not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.data.threedmm import (
    ThreeDmmError,
    ThreeDmmLabeller,
    find_fitted_images,
    read_fit,
)
from mtface.core.evaluation import BINS, nme_box
from mtface.core.formats.matfile import MatFileError, load_mat
from mtface.core.geometry import box_of_points, yaw_bin
from mtface.core.imageio import ImageLoadError, load_image
from mtface.core.landmarks3d import Landmark3DOffsets, fit_offsets, leave_one_out
from mtface.core.predictor import Predictor
from mtface.core.types import FaceBox


@dataclass(frozen=True)
class OffsetsFitReport:
    """The fitted offsets; per |yaw| bin box NME (%) before, leave-one-out and in-sample;
    faces per bin; photos skipped (path: why)."""

    offsets: Landmark3DOffsets
    before: dict[str, float]
    leave_one_out: dict[str, float]
    in_sample: dict[str, float]
    faces: dict[str, int]
    skipped: list[str]


def _per_bin(errors: np.ndarray, yaws: np.ndarray) -> dict[str, float]:
    bins = np.array([yaw_bin(y) for y in yaws])
    return {b: float(errors[bins == b].mean()) for b in BINS if (bins == b).any()}


def fit_on_fitted_folders(
    folders: list[Path], weights: Path | None = None, bfm: Path | None = None
) -> OffsetsFitReport:
    """Predict every fitted photo under ``folders`` with ``weights`` (default: the shipped
    model; no offsets) and fit the offsets. Raises ValueError when no photo could be used (e.g.
    no ``pt3d_68`` and no ``bfm``), ThreeDmmError for an unusable BFM folder, WeightsError for
    unusable weights."""
    raw = Predictor.from_weights(weights, refiner_2d=None, offsets_3d=None)
    labeller: ThreeDmmLabeller | None = None
    keypoints, vertices, labels, yaws, names, skipped = [], [], [], [], [], []
    for folder in folders:
        for image_path, mat_path in find_fitted_images(folder):
            try:
                image = load_image(image_path)
                fit = read_fit(mat_path)
                mat = load_mat(mat_path)
            except (ImageLoadError, ThreeDmmError, MatFileError) as exc:
                skipped.append(f"{image_path}: {exc}")
                continue
            if "pt3d_68" in mat:
                label = np.asarray(mat["pt3d_68"], np.float64)[:2].T - 1.0  # 1-based on disk
            elif bfm is not None:
                labeller = labeller or ThreeDmmLabeller.from_folder(bfm, raw.topology)
                label = labeller.keypoints(fit, image.shape[0])[:, :2]
            else:
                skipped.append(f"{mat_path}: no pt3d_68, and no BFM folder for its keypoints")
                continue
            face = raw.predict(
                image, [FaceBox(*box_of_points(label))], box_kind="landmarks", refine=False
            ).faces[0]
            keypoints.append(face.landmarks.astype(np.float64))
            vertices.append(face.vertices.astype(np.float64))
            labels.append(label)
            yaws.append(fit.angles_degrees[1])
            names.append(image_path.name)
    if not labels:
        raise ValueError(
            f"no usable .jpg + .mat pair under {', '.join(map(str, folders))}"
            + (f" ({len(skipped)} skipped: {skipped[0]})" if skipped else "")
        )
    k, v, t, y = np.stack(keypoints), np.stack(vertices), np.stack(labels), np.array(yaws)
    template = raw.topology.vertices.astype(np.float64)
    flip = raw.topology.landmark_flip_permutation
    offsets = fit_offsets(k, v, t, template, flip, tuple(names))
    fitted = np.stack([offsets.apply(ki, vi, template)[:, :2] for ki, vi in zip(k, v)])
    held_out = leave_one_out(k, v, t, template, flip) if len(k) > 1 else fitted
    bins = [yaw_bin(a) for a in y]
    return OffsetsFitReport(
        offsets,
        _per_bin(nme_box(k[:, :, :2], t), y),
        _per_bin(nme_box(held_out, t), y),
        _per_bin(nme_box(fitted, t), y),
        {b: bins.count(b) for b in BINS},
        skipped,
    )
