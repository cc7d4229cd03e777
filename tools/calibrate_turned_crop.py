"""Fit where the first crop of a TURNED YuNet face goes (core/detection/yunet_crop.py, ADR 31).

On a profile YuNet's box covers hair and ear and sits towards the back of the head; the plain box
geometry (fitted on frontal LFW faces) then crops the ear, and the cascade reads a near-frontal
face there. This tool measures the boxes YuNet really gives on large-pose views WITH BACKGROUND
made from TRAINING photos only (the w300 training split of a label folder made by
``mtface data import-annotations``; the views by the data engine's face profiling,
core/data/profiling.py, as ``mtface data synthesize`` makes them) and fits a ridge regression
(:class:`CropCalibration`, the same 12 features as the near-frontal one) from YuNet's five points
and box to the view's exact 68-landmark box: the protocol crop. Every view is used twice, as it
is and mirrored (features and target mirrored exactly), so left and right profiles are treated
alike. Five-fold cross-validation by photo reports the centre error (fraction of the landmark
box side) and the side error of the plain geometry and of the fit, per yaw bin.

    OMP_NUM_THREADS=1 python tools/calibrate_turned_crop.py --labels data_cache/w300_labels \\
        --collect /tmp/turned_views.npz --out resources/detector/yunet_crop_turned.json

``--collect`` caches the detections (re-used when the file exists). Never list validation or
test photos. Refresh resources/SHA256SUMS after replacing the shipped file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mtface.core.detection.yunet_crop import (
    TURN_LIMIT,
    CropCalibration,
    YuNetFace,
    plain_landmark_box,
    turn_ratio,
)

#: Mirror order of YuNet's five points: right eye <-> left eye, right <-> left mouth corner.
MIRROR_ORDER = (1, 0, 2, 4, 3)


def mirrored(face: YuNetFace, box: np.ndarray, width: float) -> tuple[YuNetFace, np.ndarray]:
    """``face`` and its target landmark box (3,) (centre x, centre y, side) in the image
    mirrored left-right (``width`` pixels)."""
    kp = np.asarray(face.keypoints, dtype=np.float64).reshape(5, 2)[list(MIRROR_ORDER)].copy()
    kp[:, 0] = width - 1.0 - kp[:, 0]
    flipped = YuNetFace(width - 1.0 - (face.x + face.w), face.y, face.w, face.h, face.score, kp)
    return flipped, np.array([width - 1.0 - box[0], box[1], box[2]])


def collect(labels_dir: Path, out: Path, views: int, seed: int, work_size: int) -> None:
    """Large-pose views of the training photos, YuNet's face on the person in each: saves
    face (N, 5) x y w h score, keypoints (N, 5, 2), target (N, 3), yaw (N,), photo (N,),
    width (N,)."""
    from mtface.core.data.labels import load_human_labels
    from mtface.core.data.profiling import profile_face, working_crop
    from mtface.core.data.synthesis import sample_delta
    from mtface.core.detection.yunet import YuNetDetector
    from mtface.core.geometry import box_of_points
    from mtface.core.imageio import load_image
    from mtface.core.topology import Topology

    labels, held_out = load_human_labels(labels_dir)
    train = np.flatnonzero(~held_out)
    topology = Topology.load()
    detector = YuNetDetector(calibration=None)
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in ("face", "kp", "target", "yaw", "photo", "width")}
    missed = 0
    for n, i in enumerate(train):
        image = load_image(labels.images_root / str(labels.paths[i]))
        crop, verts = working_crop(image, labels.vertices[i].astype(np.float64), work_size, 2.2)
        base = tuple(float(a) for a in labels.pose[i])
        for v in range(views):
            delta = sample_delta(base[1], rng, 1 + (n * views + v) % 2)  # (30,60] / (60,90]
            sample = profile_face(crop, verts, base, delta, topology)
            true68 = topology.landmarks_from_vertices(sample.vertices.astype(np.float64))[:, :2]
            x0, y0, x1, y1 = box_of_points(true68)
            on_person = [
                f
                for f in detector.detect_faces(sample.image)
                if x0 <= f.x + f.w / 2 <= x1 and y0 <= f.y + f.h / 2 <= y1
            ]
            if not on_person:
                missed += 1
                continue
            centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
            f = min(on_person, key=lambda f: np.hypot(*(centre - (f.x + f.w / 2, f.y + f.h / 2))))
            rows["face"].append([f.x, f.y, f.w, f.h, f.score])
            rows["kp"].append(np.asarray(f.keypoints, dtype=np.float64).reshape(5, 2))
            rows["target"].append([centre[0], centre[1], max(x1 - x0, y1 - y0)])
            rows["yaw"].append(float(sample.pose[1]))
            rows["photo"].append(int(i))
            rows["width"].append(float(sample.image.shape[1]))
        if n % 100 == 0:
            print(f"{n}/{len(train)} photos, {len(rows['yaw'])} faces, {missed} missed", flush=True)
    np.savez(out, **{k: np.array(v) for k, v in rows.items()})
    print(f"saved {len(rows['yaw'])} views ({missed} without a face on the person) to {out}")


def load_rows(path: Path) -> tuple[list[YuNetFace], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = np.load(path)
    faces = [YuNetFace(*map(float, f), keypoints=k) for f, k in zip(data["face"], data["kp"])]
    return faces, data["target"], data["yaw"], data["photo"], data["width"]


def box_errors(predicted: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre error / target side and |log(side ratio)|, each (N,)."""
    centre = np.linalg.norm(predicted[:, :2] - target[:, :2], axis=1) / target[:, 2]
    return centre, np.abs(np.log(predicted[:, 2] / target[:, 2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=Path, default=Path("data_cache/w300_labels"))
    parser.add_argument("--collect", type=Path, required=True)
    parser.add_argument("--views", type=int, default=2, help="large-pose views per photo")
    parser.add_argument("--work-size", type=int, default=320)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ridge", type=float, default=1e-2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not args.collect.exists():
        collect(args.labels, args.collect, args.views, args.seed, args.work_size)
    faces, target, yaw, photo, width = load_rows(args.collect)
    turned = np.array([turn_ratio(f.keypoints) > TURN_LIMIT for f in faces])
    print(f"{len(faces)} views, {int(turned.sum())} turned (turn ratio > {TURN_LIMIT})")
    idx = np.flatnonzero(turned)
    mirror = [mirrored(faces[i], target[i], width[i]) for i in idx]
    all_faces = [faces[i] for i in idx] + [m[0] for m in mirror]
    all_target = np.concatenate([target[idx], np.array([m[1] for m in mirror])])
    all_photo = np.concatenate([photo[idx], photo[idx]])
    all_yaw = np.abs(np.concatenate([yaw[idx], yaw[idx]]))
    folds = np.array([hash(int(p)) % 5 for p in all_photo])
    fitted = np.zeros_like(all_target)
    for k in range(5):
        test = folds == k
        cal = CropCalibration.fit(
            [f for f, t in zip(all_faces, test) if not t], all_target[~test], args.ridge
        )
        fitted[test] = [cal.landmark_box(f) for f, t in zip(all_faces, test) if t]
    plain = np.array([plain_landmark_box(f) for f in all_faces])
    print(
        f"{'|yaw| bin':12s}{'n':>6s}{'plain centre':>14s}{'fit centre':>12s}"
        f"{'plain side':>12s}{'fit side':>10s}   (median; fit: 5-fold by photo)"
    )
    for lo, hi in ((0, 30), (30, 60), (60, 90)):
        m = (all_yaw > lo) & (all_yaw <= hi)
        if not m.any():
            continue
        pc, ps = box_errors(plain[m], all_target[m])
        fc, fs = box_errors(fitted[m], all_target[m])
        print(
            f"({lo},{hi}]{'':5s}{int(m.sum()):6d}{np.median(pc):14.3f}{np.median(fc):12.3f}"
            f"{np.median(ps):12.3f}{np.median(fs):10.3f}"
        )
    if args.out is not None:
        cal = CropCalibration.fit(
            all_faces,
            all_target,
            args.ridge,
            fitted_on=(
                f"{len(idx)} turned YuNet faces (turn ratio > {TURN_LIMIT}) on large-pose views "
                f"of w300 training photos ({args.labels.name} train split), and their mirrors; "
                "target: the views' 68-landmark box (tools/calibrate_turned_crop.py)"
            ),
        )
        cal.save(args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
