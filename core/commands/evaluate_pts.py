"""``mtface evaluate --pts DIR``: score any folder of images with 68-point annotations.

Images are found with their annotation beside them (``.pts``, labelme, COCO or CSV, as
``mtface data import-annotations`` finds them); ``--subset FILE`` keeps only the annotation files
it lists (e.g. the ``val.txt`` of an import, so the held-out photos are scored). Each annotated
face is predicted from a tight box around its annotated points (``--crop gt``: the protocol crop,
one pass) or from the detector (``--crop detector``: the face nearest the annotation; a miss when
none is within half the annotation's box size). Errors: inter-ocular NME (outer eye corners,
300-W's definition) and box NME (sqrt(w h) of the annotation's box), per region, with CED.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.data.human_labels import (
    AnnotatedImage,
    find_annotated_images,
    in_subset,
    subset_entry_of,
    usable_faces,
)
from mtface.core.evaluation import (
    REGIONS,
    box_size,
    ced_curve,
    nme_box,
    nme_interocular,
    region_errors,
)
from mtface.core.formats.atomic import atomic_write_csv
from mtface.core.formats.pts import AnnotationFormatError
from mtface.core.geometry import box_of_points
from mtface.core.imageio import ImageLoadError, load_image
from mtface.core.predictor import Predictor
from mtface.core.types import FaceBox

#: Inter-ocular NME above which a face counts as a failure (the 300-W convention).
FAILURE_THRESHOLD = 8.0


@dataclass(frozen=True)
class PtsReport:
    """names (N,) annotation files; nme_io / nme_box (N,) % with NaN for misses."""

    names: list[str]
    nme_io: np.ndarray
    nme_box: np.ndarray
    regions_io: dict[str, float]
    misses: int

    @property
    def found(self) -> np.ndarray:
        return np.isfinite(self.nme_io)

    def summary(self) -> dict:
        io, box = self.nme_io[self.found], self.nme_box[self.found]
        thresholds, fraction = ced_curve(io, FAILURE_THRESHOLD, 801)
        return {
            "faces": len(self.names),
            "misses": self.misses,
            "nme_io_mean": float(io.mean()),
            "nme_io_median": float(np.median(io)),
            "nme_box_mean": float(box.mean()),
            "failure_rate_8": float((io > FAILURE_THRESHOLD).mean()),
            "auc_8": float(np.trapezoid(fraction, thresholds) / FAILURE_THRESHOLD),
            "regions_io": self.regions_io,
        }


def _nearest_face(prediction, gt: np.ndarray) -> np.ndarray | None:
    if not prediction.faces:
        return None
    centre = gt.mean(0)
    face = min(prediction.faces, key=lambda f: np.linalg.norm(f.landmarks_2d.mean(0) - centre))
    x0, y0, x1, y1 = box_of_points(gt)
    if np.linalg.norm(face.landmarks_2d.mean(0) - centre) > 0.5 * max(x1 - x0, y1 - y0):
        return None
    return face.landmarks_2d


def evaluate_pts(
    predictor: Predictor,
    folders: list[Path],
    subset: set[str] | None,
    crop: str,
    out: Path | None = None,
) -> PtsReport:
    """Score ``predictor`` on every annotated face under ``folders`` (see the module doc).
    An unreadable image or annotation, and a face without 68 finite points, is reported on
    stderr and left out; subset entries that name no annotation found are reported. Raises
    FileNotFoundError / ValueError when no face is left to score."""
    found_items = find_annotated_images(folders)
    items = [i for i in found_items if in_subset(i, subset)]
    if subset is not None:
        _report_unmatched(subset, found_items)
    if not items:
        raise FileNotFoundError(
            f"no annotated images under {', '.join(map(str, folders))}"
            + (" in the subset list" if subset is not None else "")
        )
    names, preds, gts = [], [], []
    misses = 0
    for item in items:
        try:
            image = load_image(item.image)
            faces = usable_faces(item, _warn)
        except (ImageLoadError, AnnotationFormatError) as exc:
            _warn(f"skipped: {exc}")
            continue
        detected = predictor.predict(image) if crop == "detector" and faces else None
        for k, face in enumerate(faces):
            gt = face.landmarks.astype(np.float64)
            if detected is None:
                box = FaceBox(*box_of_points(gt))
                pred = (
                    predictor.predict(image, [box], box_kind="landmarks", refine=False)
                    .faces[0]
                    .landmarks_2d
                )
            else:
                pred = _nearest_face(detected, gt)
            if pred is None:
                misses += 1
                pred = np.full((68, 2), np.nan)
            names.append(f"{item.annotation.name}" + (f"#{k}" if len(faces) > 1 else ""))
            preds.append(pred)
            gts.append(gt)
    if not gts:
        raise ValueError(
            f"none of the {len(items)} annotated image(s)"
            + (" in the subset list" if subset is not None else "")
            + " has a usable 68-point face (see the skipped: lines above)"
        )
    pred_a, gt_a = np.stack(preds), np.stack(gts)
    found = np.isfinite(pred_a).all(axis=(1, 2))
    io = np.full(len(gt_a), np.nan)
    box = np.full(len(gt_a), np.nan)
    io[found] = nme_interocular(pred_a[found], gt_a[found])
    box[found] = nme_box(pred_a[found], gt_a[found])
    interocular = np.linalg.norm(gt_a[found, 36] - gt_a[found, 45], axis=1)
    report = PtsReport(
        names, io, box, region_errors(pred_a[found], gt_a[found], interocular), misses
    )
    if out is not None:
        atomic_write_csv(
            out / f"pts_{crop}_errors.csv",
            ["annotation", "nme_io_percent", "nme_box_percent"],
            [[n, f"{a:.4f}", f"{b:.4f}"] for n, a, b in zip(names, io, box)],
        )
    return report


def _warn(text: str) -> None:
    print(text, file=sys.stderr)


def _report_unmatched(subset: set[str], items: list[AnnotatedImage]) -> None:
    """Say which subset entries name no annotation file found under the folders."""
    matched = {subset_entry_of(p, subset) for item in items for p in item.files}
    missing = sorted(subset - matched)
    if not missing:
        return
    if len(missing) == len(subset):
        raise FileNotFoundError(
            f"none of the {len(subset)} file(s) the subset list names is an annotation found "
            f"under the folders (first: {', '.join(missing[:3])})"
        )
    _warn(
        f"warning: {len(missing)} of the {len(subset)} file(s) the subset list names were not "
        f"found (first: {', '.join(missing[:3])})"
    )


def print_pts_report(report: PtsReport, crop: str, convention: str) -> None:
    s = report.summary()
    print(
        f"\n68-point annotations, {s['faces']} faces ({crop} crop, {convention} landmarks, "
        f"{s['misses']} without a face)"
    )
    print(
        f"  inter-ocular NME %: mean {s['nme_io_mean']:.2f}  median {s['nme_io_median']:.2f}"
        f"  failures (>{FAILURE_THRESHOLD:g} %) {100 * s['failure_rate_8']:.1f} %  "
        f"AUC@{FAILURE_THRESHOLD:g} {s['auc_8']:.3f}"
    )
    print(f"  box NME %: mean {s['nme_box_mean']:.2f}")
    print(
        "  per region (inter-ocular NME %): "
        + "  ".join(f"{name} {report.regions_io[name]:.2f}" for name in REGIONS)
    )


def box_normalised_regions(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Per-region error (%) normalised by sqrt(w h) of the ground-truth box (AFLW2000-3D)."""
    return region_errors(pred, gt, box_size(gt))
