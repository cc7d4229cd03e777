"""Signed and absolute head-pose error per |yaw| bin on a folder of AFLW2000-3D-layout photos.

MEASUREMENT ONLY: nothing here is fitted or chosen on the folder (aflw2000_3d_val and the
subset are validation / test data; ADR 34). For each ``imageNNNNN.jpg`` + ``.mat`` the model
predicts as ``mtface evaluate --aflw2000 DIR --crop gt|detector`` does, and the pose is compared
with the ``.mat``'s ``Pose_Para`` (faces with an angle beyond 99 degrees are left out, as there).

Rows: the pose the predictor reports (``reported``), the regression head's own pose
(``head``: the cascade's last stage) and the pose of the predicted mesh (``geometry``:
core/pose_geometry.py, in the model's mesh pose frame, or the template's when the model has
none), so that the two readings can be compared from one prediction pass. ``--save FILE.npz``
keeps the per-face arrays (``--load`` reads them back).

    python tools/pose_errors.py ../shared/data/aflw2000_3d_val/images --crop detector
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.commands.evaluate import face_on_person
from mtface.core.evaluation import load_aflw2000_folder
from mtface.core.geometry import box_of_points
from mtface.core.imageio import load_image
from mtface.core.pose_geometry import pose_from_mesh
from mtface.core.predictor import Predictor
from mtface.core.types import Face, FaceBox

#: |yaw| bins of the AFLW2000-3D protocol, degrees (upper bounds, inclusive).
BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))
ANGLES = ("pitch", "yaw", "roll")


@dataclass(frozen=True)
class PoseRecords:
    """Per-face arrays of one prediction pass; N faces, NaN rows where no face was found.

    names (N,); truth (N, 3) ``Pose_Para`` degrees; reported, head, geometry (N, 3) degrees;
    keypoints (N, 68, 3) and vertices (N, V, 3): the cascade's last-stage 3D keypoints and mesh
    in image pixels."""

    names: np.ndarray
    truth: np.ndarray
    reported: np.ndarray
    head: np.ndarray
    geometry: np.ndarray
    keypoints: np.ndarray
    vertices: np.ndarray

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **self.__dict__)

    @staticmethod
    def load(path: Path) -> PoseRecords:
        with np.load(path) as data:
            return PoseRecords(**{k: data[k] for k in PoseRecords.__dataclass_fields__})


def geometry_pose(predictor: Predictor, vertices: np.ndarray) -> np.ndarray:
    """(3,) degrees: the pose of a predicted mesh (V, 3) in the model's mesh pose frame (the
    template's own frame when the model has none; core/pose_geometry.py)."""
    return pose_from_mesh(vertices, predictor.topology, predictor.pose_frame)


def _face(predictor: Predictor, image: np.ndarray, gt68: np.ndarray, crop: str) -> Face | None:
    """The face ``mtface evaluate`` scores for one labelled person (None: not found)."""
    if crop == "gt":
        box = FaceBox(*box_of_points(gt68))
        return predictor.predict(image, [box], box_kind="landmarks", refine=False).faces[0]
    return face_on_person(predictor.predict(image).faces, gt68)


def collect(predictor: Predictor, folder: Path, crop: str) -> PoseRecords:
    """Predict every AFLW2000-3D pair under ``folder``; raises FileNotFoundError if none."""
    samples = load_aflw2000_folder(folder)
    if not samples:
        raise FileNotFoundError(f"{folder}: no AFLW2000-3D image/.mat pairs")
    nan3, nan68 = np.full(3, np.nan), np.full((68, 3), np.nan)
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("reported", "head", "geo", "kp", "vt")}
    nan_v = np.full((predictor.topology.num_vertices, 3), np.nan)
    for sample in samples:
        face = _face(predictor, load_image(sample.image_path), sample.gt68, crop)
        if face is None:
            empties = {"reported": nan3, "head": nan3, "geo": nan3, "kp": nan68, "vt": nan_v}
            for key, empty in empties.items():
                rows[key].append(empty)
            continue
        last = face.stages[-1]
        rows["reported"].append(np.array(list(face.pose.as_dict().values())))
        rows["head"].append(np.array(list(last.pose.as_dict().values())))
        rows["kp"].append(np.asarray(last.landmarks, np.float64))
        rows["vt"].append(np.asarray(last.vertices, np.float64))
        rows["geo"].append(geometry_pose(predictor, last.vertices))
    return PoseRecords(
        np.array([s.image_path.name for s in samples]),
        np.array([s.pose for s in samples]),
        np.array(rows["reported"]),
        np.array(rows["head"]),
        np.array(rows["geo"]),
        np.array(rows["kp"]),
        np.array(rows["vt"]),
    )


def error_table(pred: np.ndarray, truth: np.ndarray) -> list[str]:
    """Lines: per |yaw| bin (of the truth) and overall, n, signed mean and MAE (degrees) of
    pitch, yaw, roll and the mean MAE. pred, truth (N, 3); rows with NaN or |angle| > 99
    dropped."""
    keep = np.isfinite(pred).all(1) & (np.abs(truth) <= 99).all(1)
    error, yaw = pred[keep] - truth[keep], np.abs(truth[keep, 1])
    lines = []
    groups = [(f"({lo:.0f},{hi:.0f}]", (yaw > lo) & (yaw <= hi)) for lo, hi in BINS]
    groups[0] = ("[0,30]", yaw <= BINS[0][1])
    for label, inside in [*groups, ("all", np.ones(len(yaw), bool))]:
        e = error[inside]
        if len(e) == 0:
            continue
        parts = [
            f"{a} {e[:, k].mean():+6.2f} / {np.abs(e[:, k]).mean():5.2f}"
            for k, a in enumerate(ANGLES)
        ]
        lines.append(
            f"  {label:8s} n={len(e):4d}  "
            + "  ".join(parts)
            + f"  mean MAE {np.abs(e).mean():5.2f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="imageNNNNN.jpg + .mat pairs")
    parser.add_argument("--crop", choices=("gt", "detector"), default="detector")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--save", type=Path, default=None, help="write the per-face arrays")
    parser.add_argument("--load", type=Path, default=None, help="read them instead of predicting")
    args = parser.parse_args()
    if args.load is not None:
        records = PoseRecords.load(args.load)
    else:
        predictor = Predictor.from_weights(args.weights)
        records = collect(predictor, args.folder, args.crop)
    if args.save is not None:
        records.save(args.save)
    found = int(np.isfinite(records.reported).all(1).sum())
    print(f"{args.folder} ({args.crop} crop): {found}/{len(records.names)} faces found")
    print("signed mean / MAE, degrees (prediction - Pose_Para), per |yaw| bin of the label")
    for label in ("reported", "head", "geometry"):
        print(f"{label}:")
        print("\n".join(error_table(getattr(records, label), records.truth)))


if __name__ == "__main__":
    main()
