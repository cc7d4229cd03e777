"""Fit where the first crop of a near-frontal YuNet face goes (core/detection/yunet_crop.py).

For each listed training face: YuNet's detection nearest the annotated landmarks (searched as
the default detector does), a first cascade pass on the crop of YuNet's plain box geometry,
and the training-rule crop around that pass's landmarks: the crop the predictor's second pass
would use. A ridge regression from YuNet's five points and box to that crop is fitted on the
near-frontal faces (the only ones it is used for) and written as a calibration file; the
five-fold cross-validated share of faces whose first crop then lies within the predictor's
re-crop tolerance is printed beside the plain geometry's.

    python tools/calibrate_yunet.py --root ../shared/data/w300 \\
        --list data_cache/w300_labels/train.txt --out resources/detector/yunet_crop.json

Only list training faces (never validation or test ones). Refresh resources/SHA256SUMS after
replacing the shipped file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from mtface.core.detection.yunet import TURN_LIMIT, YuNetDetector
from mtface.core.detection.yunet_crop import (
    CropCalibration,
    YuNetFace,
    as_blazeface_box,
    turn_ratio,
)
from mtface.core.formats.pts import read_pts
from mtface.core.geometry import PROTOCOL_CROP_ENLARGE, CropTransform
from mtface.core.imageio import load_image
from mtface.core.predictor import REFINE_TOLERANCE, Predictor, crop_change


def crop_of(box: tuple[float, float, float], size: int) -> CropTransform:
    """The predictor's crop around a landmark box (centre x, centre y, larger side)."""
    cx, cy, side = box
    return CropTransform.from_box(
        (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), size, PROTOCOL_CROP_ENLARGE
    )


def landmark_box_of(tf: CropTransform) -> tuple[float, float, float]:
    """Inverse of :func:`crop_of`."""
    side = tf.size / tf.scale
    centre = np.array([tf.origin_x, tf.origin_y]) + (tf.size - 1) / 2.0 / tf.scale
    return float(centre[0]), float(centre[1]), side / PROTOCOL_CROP_ENLARGE


def collect(
    root: Path, names: list[str], predictor: Predictor
) -> tuple[list[YuNetFace], np.ndarray]:
    detector = YuNetDetector(calibration=None)
    faces, targets = [], []
    for name in names:
        annotation = root / name
        image = load_image(annotation.with_suffix(".jpg"))
        labelled_centre = read_pts(annotation).mean(0)
        found = [f for f in detector.detect_faces(image) if turn_ratio(f.keypoints) <= TURN_LIMIT]
        if not found:
            continue
        face = min(
            found,
            key=lambda f: np.hypot(
                f.x + f.w / 2 - labelled_centre[0], f.y + f.h / 2 - labelled_centre[1]
            ),
        )
        first = predictor.crop_from_box(as_blazeface_box(face, None, TURN_LIMIT))
        result = predictor.run_on_transforms(image, [first])
        second = predictor.crop_from_landmarks(first.to_image(result.keypoints[0, -1])[:, :2])
        faces.append(face)
        targets.append(landmark_box_of(second))
    return faces, np.array(targets)


def within_tolerance(
    faces: list[YuNetFace],
    targets: np.ndarray,
    predictor: Predictor,
    calibration: CropCalibration | None,
) -> float:
    """Share of faces whose first crop lies within the re-crop tolerance of the target crop."""
    hits = [
        crop_change(
            predictor.crop_from_box(as_blazeface_box(face, calibration, TURN_LIMIT)),
            crop_of(tuple(target), predictor.crop_size),
        )
        <= REFINE_TOLERANCE
        for face, target in zip(faces, targets)
    ]
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder of images + .pts")
    parser.add_argument("--list", type=Path, required=True, help="training .pts paths, one a line")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights", type=Path, help="cascade weights (default: the shipped)")
    parser.add_argument("--ridge", type=float, default=1e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [line.strip() for line in args.list.read_text().splitlines() if line.strip()]
    predictor = Predictor.from_weights(args.weights, refiner_2d=None)
    faces, targets = collect(args.root, names, predictor)
    folds = np.array_split(np.random.default_rng(0).permutation(len(faces)), 5)
    shares = []
    for fold in folds:
        train = np.setdiff1d(np.arange(len(faces)), fold)
        fitted = CropCalibration.fit([faces[i] for i in train], targets[train], args.ridge)
        shares.append(
            within_tolerance([faces[i] for i in fold], targets[fold], predictor, fitted) * len(fold)
        )
    plain = within_tolerance(faces, targets, predictor, None)
    print(
        f"{len(faces)} near-frontal faces of {len(names)}: first crop within the re-crop "
        f"tolerance {REFINE_TOLERANCE}: plain geometry {plain:.2f}, calibrated "
        f"{sum(shares) / len(faces):.2f} (5-fold cross-validated)"
    )
    calibration = CropCalibration.fit(
        faces,
        targets,
        args.ridge,
        fitted_on=f"{len(faces)} near-frontal faces listed in {args.list.name} of "
        f"{args.root.name}, targets from {predictor_name(args.weights)}",
    )
    calibration.save(args.out)
    print(f"wrote {args.out}")


def predictor_name(weights: Path | None) -> str:
    return weights.name if weights else "the shipped model"


if __name__ == "__main__":
    main()
