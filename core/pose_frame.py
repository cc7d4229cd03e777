"""The model's pose frame against ``Pose_Para``, measured on photos with human 68-point labels.

mtface reports pose in AFLW2000-3D's ``Pose_Para`` convention, but its pose labels come from
the teacher's mesh (MediaPipe's Procrustes frame), whose pitch differs by a few degrees. 300W-LP
and AFLW2000-3D take ``Pose_Para`` from a 3DMM fit to a photo's human points, so the same fit
(:mod:`mtface.core.data.bfm_fit`) on any photo with 68 human points gives a pose in that
convention. Comparing the model's pose with it on training photos measures the frame offset
without test labels (docs/adr/0014-pose-frame-calibration.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.data.bfm_fit import KeypointFitter
from mtface.core.data.human_labels import find_annotated_images, in_subset
from mtface.core.formats.annotations import read_annotation
from mtface.core.geometry import box_of_points
from mtface.core.imageio import load_image
from mtface.core.predictor import Predictor
from mtface.core.types import FaceBox

#: Faces whose fitted |yaw| exceeds this (degrees) are left out of the offset: 2D points of a
#: turned face pin its pitch less well, and the fit marches the contour there.
NEAR_FRONTAL_YAW_DEG = 30.0
ANGLES = ("pitch", "yaw", "roll")


@dataclass(frozen=True)
class PoseFrameReport:
    """names (N,); model_deg and fit_deg (N, 3) pitch, yaw, roll in degrees."""

    names: list[str]
    model_deg: np.ndarray
    fit_deg: np.ndarray

    @property
    def near_frontal(self) -> np.ndarray:
        """(N,) bool: faces whose fitted |yaw| is at most ``NEAR_FRONTAL_YAW_DEG``."""
        return np.abs(self.fit_deg[:, 1]) <= NEAR_FRONTAL_YAW_DEG

    @property
    def offset_deg(self) -> np.ndarray:
        """(3,) median of fit - model over the near-frontal faces: what to add to the model."""
        keep = self.near_frontal
        if not keep.any():
            raise ValueError("no near-frontal face to measure the pose frame on")
        return np.median(self.fit_deg[keep] - self.model_deg[keep], axis=0)

    def summary(self, pitch_offset_deg: float = 0.0) -> dict[str, dict[str, float]]:
        """Signed mean and MAE (degrees) per angle, all faces and near-frontal ones, with
        ``pitch_offset_deg`` added to the model's pitch."""
        model = self.model_deg + np.array([pitch_offset_deg, 0.0, 0.0])
        out: dict[str, dict[str, float]] = {}
        groups = {"all": np.ones(len(model), bool), "near_frontal": self.near_frontal}
        for label, keep in groups.items():
            error = model[keep] - self.fit_deg[keep]
            out[label] = {"faces": float(keep.sum())}
            for k, angle in enumerate(ANGLES):
                out[label][f"{angle}_signed"] = float(error[:, k].mean())
                out[label][f"{angle}_mae"] = float(np.abs(error[:, k]).mean())
        return out


def measure_pose_frame(
    predictor: Predictor,
    fitter: KeypointFitter,
    folders: list[Path],
    subset: set[str] | None = None,
) -> PoseFrameReport:
    """Predict every 68-point annotated face under ``folders`` (tight box of its points, one
    pass: the evaluation protocol's crop) and fit the BFM keypoints to its points.

    ``subset``: annotation paths relative to their folder (a ``train.txt``), or None for all.
    Raises FileNotFoundError when no annotated face is found; ImageLoadError and
    AnnotationFormatError name an unreadable photo or annotation."""
    names: list[str] = []
    model_rows: list[list[float]] = []
    fit_rows: list[np.ndarray] = []
    items = [i for i in find_annotated_images(folders) if in_subset(i.annotation, subset)]
    for item in items:
        image = load_image(item.image)
        for face in read_annotation(item.annotation, image_name=item.image.name):
            if len(face.landmarks) != 68:
                continue
            points = face.landmarks.astype(np.float64)
            box = FaceBox(*box_of_points(points))
            pose = predictor.predict(image, [box], box_kind="landmarks", refine=False).faces[0].pose
            names.append(str(item.annotation))
            model_rows.append([pose.pitch, pose.yaw, pose.roll])
            fit_rows.append(fitter.fit(points, image.shape[0]).fit.angles_degrees)
    if not names:
        raise FileNotFoundError(
            f"no 68-point annotated face under {', '.join(map(str, folders))}"
            + (" in the subset list" if subset is not None else "")
        )
    return PoseFrameReport(names, np.array(model_rows), np.stack(fit_rows))
