"""What ``mtface finetune`` fits after training, and the model file it writes.

* The 2D refiner (core/training/refine2d_fit.py) is fitted on the training faces and kept only
  when it lowers the held-out error of the 2d landmarks; the choice and both figures are
  recorded.
* With the Basel Face Model files, the pose frame is calibrated on the training faces as
  tools/calibrate_pose.py does (ADR 14): the median pitch of BFM keypoint fits to the user's
  points minus the model's, over near-frontal faces; without them, or with fewer than
  ``MIN_POSE_FACES`` near-frontal faces, the calibration is skipped and the file says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtface.core.model import CascadeMTCNN
from mtface.core.refine2d import Refiner2D

#: The fewest near-frontal training faces the pitch calibration is measured on.
MIN_POSE_FACES = 10


@dataclass(frozen=True)
class FittedParts:
    """The trained model after fitting; ``held_out`` inter-ocular NME % ('without_refiner',
    'with_refiner', 'final'); the notes say what was kept and why; ``pitch_offset_deg`` the
    pitch added by the calibration (None: not calibrated)."""

    model: CascadeMTCNN
    refiner: Refiner2D | None
    held_out: dict[str, float]
    refiner_note: str
    pose_note: str
    pitch_offset_deg: float | None


@dataclass(frozen=True)
class FinetuneResult:
    """What the model file holds: the weights, the refiner (None: none) and the metadata."""

    model: CascadeMTCNN
    refiner: Refiner2D | None
    meta: dict


def fit_after_training(
    trained: Path, labels_dir: Path, root: Path, bfm: Path | None
) -> FittedParts:
    """Fit the refiner of the weights ``trained`` on the label folder ``labels_dir`` (keep it
    where it helps the held-out faces) and, with ``bfm``, the pitch calibration on the
    training photos under ``root``."""
    from mtface.core.checkpoint import load_cascade
    from mtface.core.training.refine2d_fit import fit_on_label_folder

    report = fit_on_label_folder(labels_dir, trained)
    without = report.errors["model val"]["nme_io"]
    with_refiner = report.errors["refined val"]["nme_io"]
    keep = with_refiner < without
    refiner_note = (
        f"{'kept' if keep else 'left out'}: held-out error {without:.2f} % without it, "
        f"{with_refiner:.2f} % with it (fitted on {report.train_faces} training faces)"
    )
    model, _ = load_cascade(trained)
    pose_note, pitch_offset = _calibrate_pose(model, trained, labels_dir, root, bfm)
    return FittedParts(
        model,
        report.refiner if keep else None,
        {
            "without_refiner": without,
            "with_refiner": with_refiner,
            "final": min(without, with_refiner),
        },
        refiner_note,
        pose_note,
        pitch_offset,
    )


def _calibrate_pose(
    model: CascadeMTCNN, trained: Path, labels_dir: Path, root: Path, bfm: Path | None
) -> tuple[str, float | None]:
    """Add the measured pitch offset to ``model`` (in place); returns what was done and the
    offset in degrees (None: not calibrated)."""
    if bfm is None:
        return (
            "not re-calibrated (give --bfm with the Basel Face Model files to calibrate the "
            "pitch on your faces, ADR 14); training moves the starting model's frame a little",
            None,
        )
    from mtface.core.data.bfm_fit import KeypointFitter
    from mtface.core.data.human_labels import read_subset
    from mtface.core.pose_frame import measure_pose_frame
    from mtface.core.predictor import Predictor

    predictor = Predictor.from_weights(trained, refiner_2d=None)
    fitter = KeypointFitter.from_folder(bfm)
    report = measure_pose_frame(predictor, fitter, [root], read_subset(labels_dir / "train.txt"))
    frontal = int(report.near_frontal.sum())
    if frontal < MIN_POSE_FACES:
        return (
            f"not re-calibrated: {frontal} near-frontal training faces, {MIN_POSE_FACES} needed",
            None,
        )
    offset = float(report.offset_deg[0])
    model.offset_pose(offset)
    return (
        f"pitch + {offset:.2f} degrees (median over {frontal} near-frontal training faces)",
        offset,
    )


def write_finetuned_model(result: FinetuneResult, out: Path) -> str:
    """Write the ONE model file ``out`` (core/model_file.py, atomically): the weights in fp32
    (the precision the held-out figures were measured with), the refiner when kept, no 3d
    offsets (those of the starting model were fitted for its keypoints) and the metadata.
    Returns the file's SHA-256."""
    from mtface.core.model_file import save_model

    out.parent.mkdir(parents=True, exist_ok=True)
    identity = save_model(out, result.model, result.refiner, None, result.meta, half=False)
    return identity.sha256
