"""Measure the model's pose frame against ``Pose_Para`` on photos with human 68-point labels and,
with ``--apply``, write weights whose pitch carries the measured offset (ADR 14); with
``--mesh-frame LABELS`` instead, measure the frame of the predicted mesh's pose on the training
faces of a label folder and their large-pose views, and with ``--apply`` write it into the model
file, so that the model reports its mesh's pose (ADR 34).

Each face is predicted from the tight box of its points (the evaluation protocol's crop, one
pass) and the BFM keypoints are fitted to its points (core/data/bfm_fit.py), as 300W-LP's and
AFLW2000-3D's poses were made. The offset is the median pitch difference over the near-frontal
faces (fitted |yaw| <= 30 degrees). Use TRAINING photos only.

    python tools/calibrate_pose.py --root ../shared/data/w300 \
        --list data_cache/w300_labels/train.txt --bfm ../shared/data/bfm_subset \
        --apply resources/models/mtface_default.pt
    python tools/calibrate_pose.py --mesh-frame data_cache/w300_labels \
        --bfm ../shared/data/bfm_subset --apply resources/models/mtface_default.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mtface.core.checkpoint import default_weights_path
from mtface.core.data.bfm_fit import KeypointFitter
from mtface.core.data.human_labels import read_subset
from mtface.core.model_file import load_model, save_model
from mtface.core.pose_frame import TrainingPoses, measure_pose_frame, training_poses
from mtface.core.pose_geometry import (
    ANGLES,
    MeshPoseFrame,
    angles_of_rotations,
    fit_mesh_pose_frame,
)
from mtface.core.predictor import Predictor
from mtface.core.weights import verify_bundled, write_checksums


def apply_pitch_offset(weights: Path, out: Path, pitch_offset_deg: float, faces: int) -> None:
    """Write the model ``weights`` to ``out`` as one model file (ADR 20) with
    ``pitch_offset_deg`` added to the pitch output, its other parts and precision kept; the
    metadata keeps the total offset applied so far (``pose_calibration``)."""
    loaded = load_model(weights)
    loaded.cascade.offset_pose(pitch_offset_deg)
    meta = dict(loaded.meta)
    previous = meta.get("pose_calibration", {})
    meta["pose_calibration"] = {
        "pitch_offset_deg": float(previous.get("pitch_offset_deg", 0.0)) + pitch_offset_deg,
        "faces": faces,
        "method": "median Pose_Para pitch of BFM keypoint fits to human 68-point labels "
        "minus the model's pitch, near-frontal training faces (ADR 14)",
    }
    meta.setdefault("name", loaded.identity.name)
    save_model(out, loaded.cascade, loaded.refiner_2d(), loaded.offsets, meta, loaded.half)


def apply_mesh_frame(weights: Path, out: Path, frame: MeshPoseFrame, method: str) -> None:
    """Write the model ``weights`` to ``out`` as one model file with ``frame`` as its
    ``pose_calibration.mesh_frame`` (the predictor then reports the mesh's pose in that frame;
    the regression head, its pitch offset and every other part are kept as they are)."""
    loaded = load_model(weights)
    meta = dict(loaded.meta)
    calibration = dict(meta.get("pose_calibration", {}))
    calibration["mesh_frame"] = frame.to_dict() | {"method": method}
    meta["pose_calibration"] = calibration
    meta.setdefault("name", loaded.identity.name)
    save_model(out, loaded.cascade, loaded.refiner_2d(), loaded.offsets, meta, loaded.half)


def bin_lines(predicted: np.ndarray, poses: TrainingPoses) -> list[str]:
    """Per kind and |yaw| bin of the truth: n, signed mean / MAE per angle (degrees)."""
    lines = []
    error, yaw = predicted - poses.truth, np.abs(poses.truth[:, 1])
    for kind in ("photo", "view"):
        for low, high in ((-1.0, 30.0), (30.0, 60.0), (60.0, 90.0)):
            inside = (poses.kind == kind) & (yaw > low) & (yaw <= high)
            if not inside.any():
                continue
            e = error[inside]
            cells = "  ".join(
                f"{a} {e[:, k].mean():+6.2f} / {np.abs(e[:, k]).mean():5.2f}"
                for k, a in enumerate(ANGLES)
            )
            label = f"{kind} |yaw| " + ("[0,30]" if low < 0 else f"({low:.0f},{high:.0f}]")
            lines.append(f"  {label:22s} n={int(inside.sum()):4d}  {cells}")
    return lines


def mesh_frame_main(args: argparse.Namespace, weights: Path) -> None:
    """``--mesh-frame``: gather (or ``--poses``-load) the training readings, fit and report."""
    predictor = Predictor.from_weights(weights, refiner_2d=None)
    if args.poses is not None and args.poses.exists():
        poses = TrainingPoses.load(args.poses)
    else:
        fitter = KeypointFitter.from_folder(args.bfm)
        poses = training_poses(predictor, fitter, args.mesh_frame, args.views)
        if args.poses is not None:
            poses.save(args.poses)
    frame = fit_mesh_pose_frame(poses.mesh_rotation, poses.truth)
    photos = int((poses.kind == "photo").sum())
    print(f"{photos} training photos, {len(poses.kind) - photos} large-pose views")
    tilts = f"head tilt {frame.head_tilt_deg:+.2f}, camera tilt {frame.camera_tilt_deg:+.2f}"
    print(f"mesh frame: {tilts} degrees")
    print("signed / MAE, degrees (reading - truth), the regression head:")
    print("\n".join(bin_lines(poses.head, poses)))
    if predictor.pose_frame is not None:
        shipped = predictor.pose_frame.rotation(poses.mesh_rotation)
        print("the mesh's pose in the model's own frame (what it reports now):")
        print("\n".join(bin_lines(angles_of_rotations(shipped), poses)))
    print("the mesh's pose in the fitted frame:")
    print("\n".join(bin_lines(angles_of_rotations(frame.rotation(poses.mesh_rotation)), poses)))
    if args.check_held_out:
        fitter = KeypointFitter.from_folder(args.bfm)
        held = training_poses(predictor, fitter, args.mesh_frame, args.views, held_out=True)
        print("held-out photos of the label folder and their views (not fitted on), the head:")
        print("\n".join(bin_lines(held.head, held)))
        print("the mesh's pose in the fitted frame:")
        print("\n".join(bin_lines(angles_of_rotations(frame.rotation(held.mesh_rotation)), held)))
    if args.apply is not None:
        method = (
            "tilts minimising the angle MAE of the predicted mesh's rotation against BFM fits "
            f"of human 68-point labels: {photos} training photos of {args.mesh_frame.name} and "
            f"{len(poses.kind) - photos} large-pose views of them (ADR 34)"
        )
        apply_mesh_frame(weights, args.apply, frame, method)
        print(f"wrote {args.apply} (mesh pose frame)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="folder of annotated photos (pitch offset)")
    parser.add_argument(
        "--mesh-frame", type=Path, help="a label folder (import-annotations): fit the mesh frame"
    )
    parser.add_argument("--views", type=int, default=4, help="large-pose views per face")
    parser.add_argument("--poses", type=Path, help="cache of the training readings (.npz)")
    parser.add_argument(
        "--check-held-out",
        action="store_true",
        help="with --mesh-frame: also report the label folder's held-out photos and views",
    )
    parser.add_argument("--list", type=Path, help="annotation paths to use (e.g. train.txt)")
    parser.add_argument("--bfm", type=Path, required=True, help="the bfm_subset folder")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--apply", type=Path, default=None, help="write calibrated weights here")
    args = parser.parse_args()
    weights = args.weights or default_weights_path()
    if args.mesh_frame is not None:
        mesh_frame_main(args, weights)
        refresh_if_bundled(args.apply)
        return
    if args.root is None:
        parser.error("give --root (the pitch offset) or --mesh-frame (the mesh pose frame)")
    predictor = Predictor.from_weights(weights, refiner_2d=None)
    fitter = KeypointFitter.from_folder(args.bfm)
    report = measure_pose_frame(predictor, fitter, [args.root], read_subset(args.list))
    offset = report.offset_deg
    print(f"{len(report.names)} faces, {int(report.near_frontal.sum())} near-frontal")
    pitch, yaw, roll = (float(a) for a in offset)
    print(f"median offset (fit - model), degrees: pitch {pitch:.2f} yaw {yaw:.2f} roll {roll:.2f}")
    print("before:", json.dumps(report.summary(), indent=1))
    print("with the pitch offset:", json.dumps(report.summary(float(offset[0])), indent=1))
    if args.apply is not None:
        apply_pitch_offset(weights, args.apply, float(offset[0]), int(report.near_frontal.sum()))
        print(f"wrote {args.apply} (pitch + {offset[0]:.2f} degrees)")
        refresh_if_bundled(args.apply)


def refresh_if_bundled(written: Path | None) -> None:
    """After rewriting the shipped model: refresh resources/SHA256SUMS and verify it."""
    if written is not None and written.resolve() == default_weights_path().resolve():
        print(f"refreshed {write_checksums()}")
        verify_bundled()


if __name__ == "__main__":
    main()
