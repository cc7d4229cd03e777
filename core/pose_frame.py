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
from mtface.core.data.labels import load_human_labels
from mtface.core.data.profiling import profile_face, working_crop
from mtface.core.data.synthesis import sample_delta
from mtface.core.formats.annotations import read_annotation
from mtface.core.geometry import box_of_points
from mtface.core.imageio import load_image
from mtface.core.pose_geometry import mesh_rotation
from mtface.core.predictor import Predictor
from mtface.core.types import Face, FaceBox

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
            face = predictor.predict(image, [box], box_kind="landmarks", refine=False).faces[0]
            pose = face.stages[-1].pose  # the regression head's: the offset moves that one
            names.append(str(item.annotation))
            model_rows.append([pose.pitch, pose.yaw, pose.roll])
            fit_rows.append(fitter.fit(points, image.shape[0]).fit.angles_degrees)
    if not names:
        raise FileNotFoundError(
            f"no 68-point annotated face under {', '.join(map(str, folders))}"
            + (" in the subset list" if subset is not None else "")
        )
    return PoseFrameReport(names, np.array(model_rows), np.stack(fit_rows))


#: Working crop of a synthesized view: side (pixels) and context (x the face's larger side), as
#: ``mtface data synthesize`` makes its training views.
VIEW_WORK_SIZE = 160
VIEW_CONTEXT = 2.2


@dataclass(frozen=True)
class TrainingPoses:
    """Poses of training faces in the ``Pose_Para`` convention beside the model's readings.

    kind (N,) 'photo' (a training photo; truth: the BFM fit of its human points) or 'view' (a
    large-pose view synthesized from a near-frontal one; truth: that fit turned by the view's
    known rotation); truth, head (N, 3) degrees (head: the regression head's last stage);
    mesh_rotation (N, 3, 3) the predicted mesh's rotation (core/pose_geometry.py)."""

    kind: np.ndarray
    truth: np.ndarray
    head: np.ndarray
    mesh_rotation: np.ndarray

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **self.__dict__)

    @staticmethod
    def load(path: Path) -> TrainingPoses:
        with np.load(path) as data:
            return TrainingPoses(**{k: data[k] for k in TrainingPoses.__dataclass_fields__})


def _reading(predictor: Predictor, image: np.ndarray, points: np.ndarray) -> Face:
    """The face predicted from the tight box of ``points`` (K, 2): the protocol crop, one pass."""
    box = FaceBox(*box_of_points(points))
    return predictor.predict(image, [box], box_kind="landmarks", refine=False).faces[0]


def training_poses(
    predictor: Predictor,
    fitter: KeypointFitter,
    labels_folder: Path,
    views_per_face: int = 2,
    seed: int = 0,
    held_out: bool = False,
) -> TrainingPoses:
    """Readings of the TRAINING faces of an ``import-annotations`` label folder (its held-out
    photos are skipped; ``held_out=True``: those photos only, to check a frame fitted on the
    others) and of ``views_per_face`` large-pose views of each near-frontal one
    (|fitted yaw| <= ``NEAR_FRONTAL_YAW_DEG``), turned into |yaw| (30, 60] and (60, 90] in turn
    with small pitch and roll changes (``mtface data synthesize``'s rule)."""
    labels, held_out_mask = load_human_labels(labels_folder)
    rng = np.random.default_rng(seed)
    topology = predictor.topology
    rows: dict[str, list] = {"kind": [], "truth": [], "head": [], "rot": []}

    def add(kind: str, truth: np.ndarray, face: Face) -> None:
        last = face.stages[-1]
        rows["kind"].append(kind)
        rows["truth"].append(np.asarray(truth, np.float64))
        rows["head"].append(np.array(list(last.pose.as_dict().values())))
        rows["rot"].append(mesh_rotation(last.vertices, topology))

    for i in np.nonzero(held_out_mask == held_out)[0]:
        image = load_image(labels.images_root / str(labels.paths[i]))
        points = labels.human_landmarks[i].astype(np.float64)
        fit = fitter.fit(points, image.shape[0]).fit.angles_degrees
        add("photo", fit, _reading(predictor, image, points))
        if abs(fit[1]) > NEAR_FRONTAL_YAW_DEG:
            continue
        crop, vertices = working_crop(
            image, labels.vertices[i].astype(np.float64), VIEW_WORK_SIZE, VIEW_CONTEXT
        )
        for j in range(views_per_face):
            delta = sample_delta(float(fit[1]), rng, 1 + j % 2)
            view = profile_face(crop, vertices, tuple(map(float, fit)), delta, topology)
            keypoints = topology.landmarks_from_vertices(view.vertices.astype(np.float64))
            add("view", np.array(view.pose), _reading(predictor, view.image, keypoints[:, :2]))
    if not rows["kind"]:
        raise FileNotFoundError(
            f"{labels_folder}: no {'held-out' if held_out else 'training'} face"
        )
    return TrainingPoses(
        np.array(rows["kind"]),
        np.stack(rows["truth"]),
        np.stack(rows["head"]),
        np.stack(rows["rot"]),
    )
