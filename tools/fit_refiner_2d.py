"""Fit a model's 2D landmark refiner (core/refine2d.py) on human 68-point labels.

Reads a label folder written by ``mtface data import-annotations``; the model predicts every
photo's 2D-convention landmarks on the protocol crop of the human points (as ``mtface
evaluate --pts``), without a refiner. The refiner is fitted on the TRAINING photos only; the
held-out photos (``val.txt``) are only scored. Writes the refiner beside the weights
(``best.pt`` -> ``best.refine2d.npz``), where ``Predictor.from_weights`` finds it.

    python tools/fit_refiner_2d.py --labels data_cache/w300_labels [--weights runs/x/best.pt]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from mtface.core.data.labels import is_validation_identity, load_labels
from mtface.core.evaluation import nme_interocular, region_errors
from mtface.core.geometry import box_of_points
from mtface.core.imageio import load_image
from mtface.core.predictor import Predictor, refiner_path
from mtface.core.training.refine2d_fit import RefinerFitConfig, fit_refiner
from mtface.core.types import FaceBox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--weights", type=Path, help="default: the shipped model")
    parser.add_argument("--out", type=Path, help="default: beside the weights")
    parser.add_argument("--stages", type=int, default=RefinerFitConfig.stages)
    parser.add_argument("--ridge", type=float, default=RefinerFitConfig.ridge)
    args = parser.parse_args()
    labels = load_labels(args.labels)
    if labels.human_landmarks is None:
        raise SystemExit(f"{args.labels}: not made by mtface data import-annotations")
    fraction = float(labels.manifest.get("val_fraction", 0.2))
    val = np.array([is_validation_identity(str(i), fraction) for i in labels.identity])
    human = labels.human_landmarks[..., :2].astype(np.float64)
    predictor = Predictor.from_weights(args.weights, landmarks="2d", refiner_2d=None)
    started = time.perf_counter()
    images, predicted = [], []
    for i in range(len(labels)):
        image = load_image(labels.images_root / str(labels.paths[i]))
        box = FaceBox(*box_of_points(human[i]))
        face = predictor.predict(image, [box], box_kind="landmarks", refine=False).faces[0]
        images.append(image)
        predicted.append(face.landmarks_2d.astype(np.float64))
    predicted_a = np.stack(predicted)
    print(f"predicted {len(labels)} faces in {time.perf_counter() - started:.0f} s")
    train = np.nonzero(~val)[0]
    refiner = fit_refiner(
        [cv2.cvtColor(images[i], cv2.COLOR_RGB2GRAY) for i in train],
        predicted_a[train],
        human[train],
        predictor.topology.landmark_flip_permutation,
        RefinerFitConfig(stages=args.stages, ridge=args.ridge),
        source=f"fitted on {len(train)} training faces of {labels.manifest.get('source')} "
        f"with {args.weights or 'the shipped model'} (tools/fit_refiner_2d.py)",
    )
    print(f"fitted in {time.perf_counter() - started:.0f} s")
    refined = np.stack([refiner.refine(images[i], predicted_a[i]) for i in range(len(labels))])
    for name, points in (("model", predicted_a), ("refined", refined)):
        for part, mask in (("train", ~val), ("val", val)):
            errors = nme_interocular(points[mask], human[mask])
            io = np.linalg.norm(human[mask, 36] - human[mask, 45], axis=1)
            regions = region_errors(points[mask], human[mask], io)
            print(
                f"{name:>8} {part:>5}: inter-ocular NME {errors.mean():.2f} % ({mask.sum()} "
                "faces); " + " ".join(f"{k} {v:.2f}" for k, v in regions.items())
            )
    out = args.out or refiner_path(args.weights)
    refiner.save(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
