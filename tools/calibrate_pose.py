"""Measure the model's pose frame against ``Pose_Para`` on photos with human 68-point labels and,
with ``--apply``, write weights whose pitch carries the measured offset (ADR 14).

Each face is predicted from the tight box of its points (the evaluation protocol's crop, one
pass) and the BFM keypoints are fitted to its points (core/data/bfm_fit.py), as 300W-LP's and
AFLW2000-3D's poses were made. The offset is the median pitch difference over the near-frontal
faces (fitted |yaw| <= 30 degrees). Use TRAINING photos only.

    python tools/calibrate_pose.py --root ../shared/data/w300 \
        --list data_cache/w300_labels/train.txt --bfm ../shared/data/bfm_subset \
        --apply resources/models/mtface_default.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mtface.core.checkpoint import default_weights_path
from mtface.core.data.bfm_fit import KeypointFitter
from mtface.core.data.human_labels import read_subset
from mtface.core.model_file import load_model, save_model
from mtface.core.pose_frame import measure_pose_frame
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="folder of annotated photos")
    parser.add_argument("--list", type=Path, help="annotation paths to use (e.g. train.txt)")
    parser.add_argument("--bfm", type=Path, required=True, help="the bfm_subset folder")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--apply", type=Path, default=None, help="write calibrated weights here")
    args = parser.parse_args()
    weights = args.weights or default_weights_path()
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
        if args.apply.resolve() == default_weights_path().resolve():
            print(f"refreshed {write_checksums()}")
            verify_bundled()


if __name__ == "__main__":
    main()
