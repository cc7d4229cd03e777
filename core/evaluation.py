"""Benchmarks of the field, computed exactly as the method's table does.

* AFLW2000-3D, 68 points (3DDFA protocol): crop from the ground-truth 68 points (side
  sqrt(2) x max(w, h), centred), NME = mean 2D point error / sqrt(w * h) of the ground-truth box,
  |yaw| bins [0,30] / (30,60] / (60,90], reported mean = mean of the bin means. Ground truth
  ``pt3d_68`` is 1-based (MATLAB); mtface converts it to 0-based pixel centres.
* AFLW, 21 points on 120x120 protocol crops: visible points only, 68 -> 21 by the protocol map,
  normaliser = crop side / 1.466 (the crop side is sqrt(2) x max(w, h) of the unavailable
  68-point box; side / sqrt(w h) = 1.466 on AFLW2000-3D, see ../shared/data/README.md).
* Pose MAE per angle, dropping faces with any ground-truth angle over 99 degrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtface.core.geometry import box_of_points, yaw_bin
from mtface.core.topology import AFLW21_FROM_68, aflw21_from_68

BINS = ("[0,30]", "(30,60]", "(60,90]")
PAPER_AFLW2000 = {"[0,30]": 3.24, "(30,60]": 5.85, "(60,90]": 9.24, "mean": 6.11}
PAPER_AFLW = {"mean": 4.24}  # the method reports the mean over the three bins
AFLW_SIDE_PER_NORMALISER = 1.466


def nme_box(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-image NME (%) normalised by sqrt(w*h) of the ground-truth box.

    pred, gt (N, K, 2); mask (N, K) bool of the points to score (the box uses them too).
    """
    mask = np.ones(gt.shape[:2], bool) if mask is None else mask
    out = np.zeros(len(gt))
    for i in range(len(gt)):
        g, p = gt[i][mask[i]], pred[i][mask[i]]
        x0, y0, x1, y1 = box_of_points(g)
        out[i] = np.linalg.norm(p - g, axis=1).mean() / np.sqrt((x1 - x0) * (y1 - y0)) * 100
    return out


#: 0-based iBUG-68 outer eye corners: the 300-W "inter-ocular" normaliser.
OUTER_EYE_CORNERS = (36, 45)
#: Regions of the iBUG-68 scheme for per-region errors.
REGIONS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth": tuple(range(48, 68)),
}


def nme_interocular(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-image NME (%) normalised by the distance of the ground-truth outer eye corners
    (300-W's inter-ocular NME). pred, gt (N, 68, 2)."""
    d = np.linalg.norm(gt[:, OUTER_EYE_CORNERS[0]] - gt[:, OUTER_EYE_CORNERS[1]], axis=1)
    return np.linalg.norm(pred - gt, axis=2).mean(1) / np.maximum(d, 1e-9) * 100


def region_errors(pred: np.ndarray, gt: np.ndarray, normaliser: np.ndarray) -> dict[str, float]:
    """Mean error (%) of each region of ``REGIONS`` over images. pred, gt (N, 68, 2);
    normaliser (N,) pixels per image (e.g. sqrt(w h) of the ground-truth box)."""
    err = np.linalg.norm(pred - gt, axis=2) / normaliser[:, None] * 100
    return {name: float(err[:, list(ids)].mean()) for name, ids in REGIONS.items()}


def box_size(gt: np.ndarray) -> np.ndarray:
    """sqrt(w h) of the box of each ground-truth shape (N, K, 2) -> (N,) pixels."""
    span = gt.max(1) - gt.min(1)
    return np.sqrt(span[:, 0] * span[:, 1])


@dataclass
class BinnedReport:
    """Per-bin mean errors, counts, and the mean of the bin means."""

    bins: dict[str, float]
    counts: dict[str, int]
    mean: float
    per_image: np.ndarray = field(repr=False)


def binned(errors: np.ndarray, yaws: np.ndarray) -> BinnedReport:
    labels = np.array([yaw_bin(y) for y in yaws])
    bins = {b: float(errors[labels == b].mean()) for b in BINS if (labels == b).any()}
    counts = {b: int((labels == b).sum()) for b in BINS}
    return BinnedReport(bins, counts, float(np.mean(list(bins.values()))), errors)


def aflw21_nme(pred68: np.ndarray, gt21: np.ndarray, side: float) -> np.ndarray:
    """AFLW protocol NME (%) on crops: pred68 (N, 68, 2), gt21 (N, 21, 2) crop pixels with
    invisible points marked by a coordinate <= 0 in ORIGINAL coordinates (pass them as NaN)."""
    pred21 = aflw21_from_68(pred68)
    visible = np.isfinite(gt21).all(axis=2)
    err = np.linalg.norm(np.nan_to_num(pred21 - gt21), axis=2)
    per = (err * visible).sum(1) / np.maximum(visible.sum(1), 1)
    return per / (side / AFLW_SIDE_PER_NORMALISER) * 100


def load_aflw_val(folder: Path) -> tuple[list[Path], np.ndarray, np.ndarray, float]:
    """(image paths, yaw (N,), gt21 in crop pixels (N, 21, 2) with NaN for invisible, side)."""
    folder = Path(folder)
    labels = np.load(folder / "labels.npz")
    names = [str(n) for n in labels["names"]]
    pts = labels["pts21"].astype(np.float64)  # (N, 2, 21) original coordinates
    roi = labels["roi_box"].astype(np.float64)
    invisible = (pts[:, 0] <= 0) | (pts[:, 1] <= 0)
    side = 120.0
    scale = side / (roi[:, 2] - roi[:, 0])
    crop = (np.transpose(pts, (0, 2, 1)) - roi[:, None, :2]) * scale[:, None, None]
    crop[invisible] = np.nan
    return [folder / "images" / n for n in names], labels["yaw_deg"].astype(float), crop, side


@dataclass
class Aflw2000Sample:
    """One AFLW2000-3D image: gt68 (68, 2) 0-based pixels, pose (pitch, yaw, roll) degrees."""

    image_path: Path
    gt68: np.ndarray
    pose: np.ndarray


def load_aflw2000_folder(folder: Path) -> list[Aflw2000Sample]:
    """Every ``imageNNNNN.jpg`` + ``.mat`` pair of a folder (sorted by name)."""
    from mtface.core.formats.matfile import load_mat

    samples = []
    for mat_path in sorted(Path(folder).glob("*.mat")):
        jpg = mat_path.with_suffix(".jpg")
        if not jpg.exists():
            continue
        mat = load_mat(mat_path)
        gt = mat["pt3d_68"][:2].T.astype(np.float64) - 1.0  # MATLAB 1-based -> 0-based
        pose = np.rad2deg(mat["Pose_Para"][0, :3].astype(np.float64))
        samples.append(Aflw2000Sample(jpg, gt, pose))
    return samples


def pose_mae(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Mean absolute error per angle in degrees (faces with |gt angle| > 99 dropped)."""
    keep = (np.abs(gt) <= 99).all(axis=1)
    err = np.abs(pred[keep] - gt[keep])
    return {
        "pitch": float(err[:, 0].mean()),
        "yaw": float(err[:, 1].mean()),
        "roll": float(err[:, 2].mean()),
        "mean": float(err.mean()),
        "count": int(keep.sum()),
    }


def ced_curve(
    errors: np.ndarray, max_error: float = 10.0, steps: int = 101
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: thresholds (steps,) and fraction of images below each."""
    thresholds = np.linspace(0, max_error, steps)
    return thresholds, (errors[None, :] <= thresholds[:, None]).mean(axis=1)


@dataclass(frozen=True)
class VisibilityAgreement:
    """Agreement of predicted visibility with labels over a set of points: recall of the
    labelled-visible and of the labelled-hidden points (NaN when there are none) and their mean,
    the balanced accuracy (NaN unless both exist); ``points`` and ``hidden`` count the labels."""

    balanced_accuracy: float
    visible_recall: float
    hidden_recall: float
    points: int
    hidden: int


def visibility_agreement(
    predicted: np.ndarray, labelled: np.ndarray, mask: np.ndarray | None = None
) -> VisibilityAgreement:
    """predicted, labelled (N, K) bool (True: visible); mask (N, K) bool of the points to
    score (default all)."""
    predicted, labelled = np.asarray(predicted, bool), np.asarray(labelled, bool)
    mask = np.ones(labelled.shape, bool) if mask is None else np.asarray(mask, bool)
    seen, hidden = labelled & mask, ~labelled & mask
    visible_recall = float(predicted[seen].mean()) if seen.any() else float("nan")
    hidden_recall = float((~predicted[hidden]).mean()) if hidden.any() else float("nan")
    return VisibilityAgreement(
        (visible_recall + hidden_recall) / 2.0,
        visible_recall,
        hidden_recall,
        int(mask.sum()),
        int(hidden.sum()),
    )


def binned_visibility(
    predicted: np.ndarray, labelled: np.ndarray, yaws: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, VisibilityAgreement]:
    """``visibility_agreement`` per |yaw| bin of ``BINS`` (bins without faces left out)."""
    labels = np.array([yaw_bin(y) for y in yaws])
    mask = np.ones(np.shape(labelled), bool) if mask is None else np.asarray(mask, bool)
    return {
        b: visibility_agreement(predicted[labels == b], labelled[labels == b], mask[labels == b])
        for b in BINS
        if (labels == b).any()
    }


def aflw21_visibility(visible68: np.ndarray) -> np.ndarray:
    """Visibility (N, 68) bool -> the AFLW 21-point scheme (N, 21): a point that is a group of
    the 68 (eye and mouth centres) is visible when at least half of the group is."""
    v = np.asarray(visible68, dtype=np.float64)
    return np.stack([v[:, list(group)].mean(1) >= 0.5 for group in AFLW21_FROM_68], axis=1)


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher = more likely positive) for telling the
    ``positives`` (bool) from the rest: the Mann-Whitney probability that a random positive
    scores above a random negative (ties count half); NaN without both classes."""
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    end = np.cumsum(counts)
    ranks = ((end - counts + 1 + end) / 2.0)[inverse]  # 1-based average ranks
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
