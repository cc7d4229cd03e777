"""The detector path on whole AFLW2000-3D photos, per yaw bin: found on the person, misses, gross
failures and NME against the protocol crop (the labels' own 68-point box, one pass).

A face counts as found on the labelled person only when a predicted face lies on that person:
the centre of its 68 predicted points lies inside the person's ground-truth 68-point box. Of the
faces on the person, the one nearest the ground truth's centre is scored; a photo with no face on
the person is a miss and scores no NME (as ``mtface evaluate --aflw2000 --crop detector``, which
picks the predicted face nearest the person and counts a photo without faces as not found).
Gross failures: NME above 20 %, misses included (a miss is a failure for a user).

The bins follow ``AFLW2000-3D-new.pose.npy`` when ``--protocol`` holds it (as the data's README
counts them: 261 / 93 / 46 on aflw2000_3d_val), else the ``.mat`` yaw.

``--detector`` picks the chain (core/detection/yunet.py: ``default`` is what ``mtface predict``
uses). ``--overlays N`` saves the N worst photos of the detector path (ground truth green,
prediction red, every detected box yellow with its detector's name) under ``--out``.

Usage: python tools/detector_path_val.py [--images ../shared/data/aflw2000_3d_val/images]
       [--protocol ../shared/data/aflw2000_3d_subset/protocol] [--detector default]
       [--out DIR] [--overlays 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from mtface.core.commands.evaluate import PROTOCOL_FILES, _protocol_rows
from mtface.core.detection import Detector
from mtface.core.evaluation import BINS, load_aflw2000_folder, nme_box
from mtface.core.formats.atomic import atomic_write_csv
from mtface.core.geometry import box_of_points, yaw_bin
from mtface.core.imageio import load_image
from mtface.core.predictor import Predictor
from mtface.core.types import FaceBox, Prediction

GROSS_NME = 20.0


def detector_by_name(name: str) -> Detector:
    """The detector chains compared here: ``default`` (what ``mtface predict`` uses),
    ``fallback`` (the first detector with a face wins, as before issue 19; crops as now),
    ``blazeface``, ``yunet`` (one YuNet search, coarse to fine)."""
    from mtface.core.detection.blazeface import BlazeFaceDetector
    from mtface.core.detection.yunet import YuNetDetector, default_detector

    chains = {
        "default": default_detector,
        "fallback": lambda: default_detector(merge=False),
        "blazeface": BlazeFaceDetector,
        "yunet": YuNetDetector,
    }
    if name not in chains:
        raise SystemExit(f"--detector must be one of {sorted(chains)}")
    return chains[name]()


def on_person(landmarks: np.ndarray, gt68: np.ndarray) -> bool:
    """True when the centre of a face's predicted points (68, 2) lies inside the ground-truth
    68-point box of the person."""
    x0, y0, x1, y1 = box_of_points(gt68)
    cx, cy = (np.min(landmarks, 0) + np.max(landmarks, 0)) / 2.0
    return bool(x0 <= cx <= x1 and y0 <= cy <= y1)


def face_on_person(prediction: Prediction, gt68: np.ndarray) -> np.ndarray | None:
    """The predicted face's 68 points (68, 2) scored for the person, or None (a miss)."""
    centre = gt68.mean(0)
    candidates = [f.landmarks_2d for f in prediction.faces if on_person(f.landmarks_2d, gt68)]
    if not candidates:
        return None
    return min(candidates, key=lambda p: float(np.linalg.norm(p.mean(0) - centre)))


def overlay(
    image: np.ndarray, gt68: np.ndarray, pred: np.ndarray | None, boxes: list[FaceBox]
) -> np.ndarray:
    """A copy of ``image`` with the ground truth (green), the scored face (red) and the boxes
    (yellow, with their score)."""
    out = np.ascontiguousarray(image.copy())
    for b in boxes:
        cv2.rectangle(out, (int(b.x0), int(b.y0)), (int(b.x1), int(b.y1)), (255, 220, 0), 1)
        cv2.putText(
            out,
            f"{b.score:.2f}",
            (int(b.x0), max(10, int(b.y0) - 2)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (255, 220, 0),
            1,
        )
    for x, y in gt68:
        cv2.circle(out, (int(round(x)), int(round(y))), 2, (0, 200, 0), -1)
    if pred is not None:
        for x, y in pred:
            cv2.circle(out, (int(round(x)), int(round(y))), 2, (255, 0, 0), -1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images", type=Path, default=Path("../shared/data/aflw2000_3d_val/images")
    )
    parser.add_argument(
        "--protocol", type=Path, default=Path("../shared/data/aflw2000_3d_subset/protocol")
    )
    parser.add_argument("--detector", default="default")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--overlays", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos")
    args = parser.parse_args()

    samples = load_aflw2000_folder(args.images)
    if args.limit:
        samples = samples[: args.limit]
    yaws = np.array([s.pose[1] for s in samples])
    pose_file = args.protocol / "AFLW2000-3D-new.pose.npy"
    if pose_file.exists():
        original = np.load(args.protocol / PROTOCOL_FILES["original"]).astype(np.float64)
        rows = _protocol_rows(original, samples)
        yaws = np.load(pose_file).reshape(len(original), -1)[rows, 0]
    bins = np.array([yaw_bin(y) for y in yaws])
    detector = detector_by_name(args.detector)
    predictor = Predictor.from_weights(args.weights, detector=detector)
    gt_nme, det_nme, found, n_faces, seconds = [], [], [], [], []
    kept: list[tuple[np.ndarray | None, list[FaceBox]]] = []
    for s in samples:
        image = load_image(s.image_path)
        gt_face = predictor.predict(
            image, [FaceBox(*box_of_points(s.gt68))], box_kind="landmarks", refine=False
        ).faces[0]
        gt_nme.append(nme_box(gt_face.landmarks_2d[None], s.gt68[None])[0])
        t0 = time.perf_counter()
        prediction = predictor.predict(image)
        seconds.append(time.perf_counter() - t0)
        pred = face_on_person(prediction, s.gt68)
        found.append(pred is not None)
        n_faces.append(len(prediction.faces))
        det_nme.append(np.nan if pred is None else nme_box(pred[None], s.gt68[None])[0])
        kept.append((pred, [f.box for f in prediction.faces]))
    gt_nme, det_nme, found = np.array(gt_nme), np.array(det_nme), np.array(found)
    gross = ~found | (np.nan_to_num(det_nme, nan=np.inf) > GROSS_NME)
    print(f"detector {args.detector!r} on {len(samples)} photos of {args.images}")
    print(
        f"{'bin':9s}{'n':>5s}{'found':>7s}{'miss':>6s}{'>20%':>6s}{'gross%':>8s}"
        f"{'det NME':>9s}{'gt NME':>8s}{'ratio':>7s}{'det med':>9s}{'gt med':>8s}"
    )
    means = []
    for b in BINS:
        m = bins == b
        if not m.any():
            continue
        ok = m & found
        d, g = det_nme[ok].mean(), gt_nme[ok].mean()
        means.append((d, g))
        print(
            f"{b:9s}{int(m.sum()):5d}{int(ok.sum()):7d}{int((m & ~found).sum()):6d}"
            f"{int((m & gross).sum()):6d}{gross[m].mean() * 100:8.1f}{d:9.2f}{g:8.2f}"
            f"{d / g:7.3f}{np.median(det_nme[ok]):9.2f}{np.median(gt_nme[ok]):8.2f}"
        )
    dm, gm = np.mean([d for d, _ in means]), np.mean([g for _, g in means])
    print(f"{'mean':9s}{'':32s}{dm:9.2f}{gm:8.2f}{dm / gm:7.3f}")
    print(
        f"predict time: median {np.median(seconds) * 1e3:.1f} ms, faces per photo "
        f"{np.mean(n_faces):.2f}"
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_csv(
            args.out / f"detector_path_{args.detector}.csv",
            ["image", "yaw_deg", "bin", "found", "gt_nme", "det_nme", "faces"],
            [
                [
                    s.image_path.name,
                    f"{y:.2f}",
                    b,
                    int(f),
                    f"{g:.3f}",
                    f"{d:.3f}",
                    n,
                ]
                for s, y, b, f, g, d, n in zip(samples, yaws, bins, found, gt_nme, det_nme, n_faces)
            ],
        )
        excess = np.where(found, det_nme - gt_nme, np.inf)
        for i in np.argsort(-excess)[: args.overlays]:
            s = samples[i]
            pred, boxes = kept[i]
            picture = overlay(load_image(s.image_path), s.gt68, pred, boxes)
            cv2.imwrite(
                str(args.out / f"{args.detector}_{s.image_path.stem}.png"),
                cv2.cvtColor(picture, cv2.COLOR_RGB2BGR),
            )


if __name__ == "__main__":
    main()
