"""Faces turned on screen: NME of `mtface predict` on w300 photos turned in the image plane,
with the axis-aligned crop and with crops turned with the face beyond each roll limit
(core/face_roll.py, ADR 35). Training-side data only: pass the training split's list.

Each photo is turned by each roll (both signs alternately) about its centre on a grey canvas
that holds all of it; its human 68 points are turned with it. A face counts when a predicted
face's landmark centre lies within a third of the label box's side of the label's; NME is the
mean point error over sqrt(w * h) of the label box, in percent ('2d' definition, the one the
labels were clicked in). Prints, per roll, the faces found and the mean NME (found faces) and
the share above 10 % for each limit.

Usage: python tools/roll_sweep.py --root ../shared/data/w300 --list data_cache/w300_labels/train.txt
       [--count 120] [--rolls 0 15 25 35 45 60 90 135 180] [--limits inf 20 30 45] [--any-rotation]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from mtface.core.crop_search import RETRY_TURNS
from mtface.core.formats.annotations import read_annotation
from mtface.core.imageio import load_image
from mtface.core.predictor import Predictor


def turned(image: np.ndarray, points: np.ndarray, roll_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned by ``roll_deg`` (counter-clockwise on screen) on a canvas holding all
    of it, and ``points`` (N, 2) moved with it."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), roll_deg, 1.0)
    c, s = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c))
    matrix[0, 2] += (new_w - w) / 2.0
    matrix[1, 2] += (new_h - h) / 2.0
    out = cv2.warpAffine(
        image, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=(110, 110, 110)
    )
    return out, points @ matrix[:, :2].T + matrix[:, 2]


def face_nme(predictor: Predictor, image: np.ndarray, truth: np.ndarray) -> float | None:
    """NME (%) of the predicted face on the labelled person; None when none lies on it."""
    x0, y0 = truth.min(0)
    x1, y1 = truth.max(0)
    size = float(np.sqrt((x1 - x0) * (y1 - y0)))
    centre = truth.mean(0)
    best = None
    for face in predictor.predict(image).faces:
        gap = float(np.linalg.norm(face.landmarks[:, :2].mean(0) - centre))
        if gap < max(x1 - x0, y1 - y0) / 3.0 and (best is None or gap < best[0]):
            best = (gap, face)
    if best is None:
        return None
    error = np.linalg.norm(best[1].landmarks[:, :2] - truth, axis=1).mean()
    return float(100.0 * error / size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--list", type=Path, required=True, help="training annotation list")
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument(
        "--rolls", type=float, nargs="+", default=[0, 15, 25, 35, 45, 60, 90, 135, 180]
    )
    parser.add_argument("--limits", type=float, nargs="+", default=[float("inf"), 20, 30, 45])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--any-rotation", action="store_true", help="with the turned retries (ADR 35)"
    )
    args = parser.parse_args()
    names = [line.strip() for line in args.list.read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(args.seed)
    names = [names[i] for i in sorted(rng.choice(len(names), min(args.count, len(names)), False))]
    predictor = Predictor.from_weights(landmarks="2d")
    if args.any_rotation:
        predictor.retry_turns = RETRY_TURNS
    faces = []
    for name in names:
        annotation = (args.root / name).with_suffix(".pts")
        image = load_image(annotation.with_suffix(".jpg"))
        faces.append((image, read_annotation(annotation)[0].landmarks[:, :2]))
    print(f"{len(faces)} w300 photos from {args.list}; NME % (found faces), share > 10 %")
    header = "roll".rjust(6) + "".join(
        f"  limit {limit:>5g}: found  NME  >10%" for limit in args.limits
    )
    print(header)
    for roll in args.rolls:
        row = f"{roll:6g}"
        for limit in args.limits:
            predictor.roll_limit_deg = limit
            scores = []
            for k, (image, truth) in enumerate(faces):
                sign = 1.0 if k % 2 == 0 else -1.0
                img, pts = turned(image, truth, sign * roll)
                scores.append(face_nme(predictor, img, pts))
            found = np.array([s for s in scores if s is not None])
            mean = float(found.mean()) if len(found) else float("nan")
            gross = float((found > 10).mean()) if len(found) else float("nan")
            row += f"  {'':12}{len(found):5d} {mean:5.2f} {gross:5.1%}"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
