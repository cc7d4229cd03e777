"""Image -> reconstructed faces: detect, crop, stage 1, MSIF, stage 2, back to image pixels.

All faces of an image go through the cascade in one batch. Without caller boxes the face
detector gives them; with ``refine_crop`` the face is cropped a second time from the first
pass's landmarks with the training crop rule (3DDFA: sqrt(2) x the larger side of the landmark
box), which removes the difference between detector boxes and the crops the model learnt on;
near-frontal faces, where that gains little, keep their first pass (ADR 13). Then the second
looks (core/second_looks.py): a face the cascade trusts little is tried again from other first
crops or a finer search, and a detected face whose box looks wrong from the other detectors'
boxes (ADR 9, 35, 37, 39); a photo where no face is found is searched again with its contrast
equalised (ADR 37).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import torch

from mtface.core.checkpoint import companion_path
from mtface.core.confidence import ConfidenceEvidence, confidence_from_evidence, crop_evidence
from mtface.core.crop_coords import crop_to_normalised, normalised_to_crop, pose_from_normalised
from mtface.core.crop_search import SHIFT_STEPS
from mtface.core.detection import Detector
from mtface.core.detection.chain import confirmed
from mtface.core.detection.choice import detect_with_alternatives
from mtface.core.detection.yunet_crop import TURN_LIMIT, turn_ratio
from mtface.core.face_roll import (
    ROLL_LIMIT_DEG,
    crop_angle,
    roll_of_detector_points,
    roll_of_landmarks,
)
from mtface.core.geometry import (
    PROTOCOL_CROP_ENLARGE,
    CropTransform,
    box_of_points,
    protocol_crop,
)
from mtface.core.imageio import contrast_equalised
from mtface.core.landmarks2d import CONTOUR_POINTS, Landmarks2D
from mtface.core.landmarks3d import Landmark3DOffsets
from mtface.core.model import CascadeMTCNN, fuse_batchnorm
from mtface.core.model_file import ModelIdentity, applied_parts, load_model, parts_of
from mtface.core.pose_geometry import (
    MeshPoseFrame,
    mesh_pose_frame_of,
    pose_from_mesh,
    pose_turned_on_screen,
)
from mtface.core.refine2d import Refiner2D
from mtface.core.second_looks import SecondLooks
from mtface.core.topology import Topology
from mtface.core.types import Face, FaceBox, Pose, Prediction, StageOutput, Timings
from mtface.core.visibility import reported_visibility

#: Detector box -> landmark box: medians over 255 teacher-labelled LFW training faces of
#: max side(landmark box) / max side(BlazeFace box) = 0.881 and of the vertical centre offset
#: = 0.030 x box height (horizontal offset -0.005, ignored).
DETECTOR_BOX_SCALE = 0.881
DETECTOR_BOX_SHIFT_Y = 0.030
#: ``box_kind`` of caller boxes: 'detector' (loose face-detector boxes, the default) or
#: 'landmarks' (tight boxes around the 68 landmarks, as datasets and annotation tools give).
BOX_KINDS = ("detector", "landmarks")
#: A face whose landmark-based re-crop moves less than this (centre or side, fraction of the
#: crop side) keeps its first pass: measured on the 216 held-out w300 faces (detector path,
#: docs/adr/0009-detector-path.md) 26 % fewer second passes, NME 4.34 -> 4.36 %.
REFINE_TOLERANCE = 0.03
#: Faces the first pass finds within this yaw (degrees, either way), and whose detector points
#: look near-frontal too, keep their first pass: the re-crop gains little there
#: (docs/adr/0013-still-image-cost.md); on turned faces, where detector boxes are placed worst,
#: it is worth its cost.
REFINE_MIN_YAW_DEG = 30.0
LANDMARK_CONVENTIONS = ("3d", "2d")
#: A model's 2D landmark refiner (core/refine2d.py) lies beside its weights with this suffix
#: (``mtface_default.pt`` -> ``mtface_default.refine2d.npz``).
REFINER_SUFFIX = ".refine2d.npz"


def refiner_path(weights: Path | None = None) -> Path:
    """Where the 2D refiner of ``weights`` (default: the shipped model) lies."""
    return companion_path(weights, REFINER_SUFFIX)


Companion = TypeVar("Companion")


def load_companion(path: Path, read: Callable[[Path], Companion]) -> Companion:
    """A file fitted for some weights (2D refiner, 3d offsets) read with ``read``, its checksum
    checked when bundled; WeightsError when unusable."""
    from mtface.core.weights import WeightsError, verify_checksum

    verify_checksum(path)
    try:
        return read(path)
    except (RuntimeError, ValueError) as exc:
        raise WeightsError(str(exc)) from exc


@dataclass(frozen=True)
class CropResult:
    """Cascade output for a batch of crops, in crop pixels (z with the same scale).

    keypoints (N, stages, 68, 3), vertices (N, stages, V, 3), visibility (N, stages, 68) scores,
    pose (N, stages, 3) degrees. ``mirrored``: for the crops asked for, stage 1 on the crop
    mirrored (the confidence's evidence, run in the same batch): crop index -> (keypoints
    (68, 3) in the mirrored crop's pixels, pose (3,) degrees).
    """

    keypoints: np.ndarray
    vertices: np.ndarray
    visibility: np.ndarray
    pose: np.ndarray
    mirrored: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def crops_to_tensor(crops: np.ndarray) -> torch.Tensor:
    """Crops (N, S, S, 3) RGB uint8 -> (N, 3, S, S) float in [0, 1], channels-last in memory."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0
    return x.contiguous(memory_format=torch.channels_last)


def crop_change(a: CropTransform, b: CropTransform) -> float:
    """How far crop ``b`` is from crop ``a``: the largest of the centre shift (in ``a``'s
    side), the relative change of the side and how far the turn between them moves a corner
    (in ``a``'s side)."""
    side_a, side_b = a.side, b.side
    shift = float(np.linalg.norm(b.centre - a.centre)) / side_a
    turn = abs(2.0 * np.sin((b.angle - a.angle) / 2.0)) / np.sqrt(2.0)
    return float(max(shift, abs(side_b / side_a - 1.0), turn))


class Predictor:
    """Runs the cascade. ``predict(image)`` for whole images, ``predict_crops`` for crops."""

    def __init__(
        self,
        model: CascadeMTCNN,
        topology: Topology | None = None,
        detector: Detector | None = None,
        refine_crop: bool = True,
        flip_test: bool = False,
        landmarks: str = "3d",
        box_kind: str = "detector",
        refine_tolerance: float = REFINE_TOLERANCE,
        refine_min_yaw_deg: float = REFINE_MIN_YAW_DEG,
        refiner_2d: Refiner2D | Path | None = None,
        offsets_3d: Landmark3DOffsets | None = None,
        identity: ModelIdentity | None = None,
        pose_frame: MeshPoseFrame | None = None,
        roll_limit_deg: float = ROLL_LIMIT_DEG,
        retry_turns: tuple[float, ...] = (),
        shift_steps: tuple[float, ...] = SHIFT_STEPS,
        equalise_when_empty: bool = True,
        search_finer: bool = True,
    ) -> None:
        """``refiner_2d``: the learned correction of the 2D-convention landmarks (or the path of
        one, read when 2D landmarks are first asked for); None: the mesh's 2D definition only.
        ``offsets_3d``: the 3d definition's offsets (core/landmarks3d.py); None: the keypoint
        head's points as they are. ``identity``: the model file's (core/model_file.py); None:
        a model that was never saved. ``pose_frame``: report the pose of the predicted mesh in
        this frame (core/pose_geometry.py, ADR 34); None: the regression head's pose.
        ``roll_limit_deg``: faces turned further than this on screen get a crop turned with
        them (core/face_roll.py, ADR 35); ``inf``: axis-aligned crops only. ``retry_turns``:
        the turns (radians) a low-confidence face's first crop is tried again with (``mtface
        predict --any-rotation``: ``RETRY_TURNS``); () none, the default. ``shift_steps``: the
        moves of a low-confidence face's first crop tried again (ADR 37); () none.
        ``equalise_when_empty``: when the detector finds no face, search again, and fit, on the
        picture with its contrast equalised (``imageio.contrast_equalised``), keeping the
        faces whose fit the cascade trusts (``chain.confirmed``; ADR 37). ``search_finer``:
        settled detections the cascade trusts little are searched again finer (ADR 39;
        detectors with a ``finer()`` form, as the default chain)."""
        if box_kind not in BOX_KINDS:
            raise ValueError(f"box_kind must be one of {BOX_KINDS}, not {box_kind!r}")
        self.box_kind = box_kind
        self.topology = topology or Topology.load()
        self._refiner_2d = refiner_2d
        self.offsets_3d = offsets_3d
        self._identity = identity or ModelIdentity("unsaved model", "", ("cascade",))
        self.landmarks = landmarks  # checked by the property; reads the refiner for '2d'
        self.model = fuse_batchnorm(model.eval()).to(memory_format=torch.channels_last)
        self.crop_size = model.config.crop_size
        self._detector = detector
        self._video_detector = detector  # None: the default's video form, built when needed
        self._fine_detector: tuple[Detector | None] | None = None  # (the finer form,) once asked
        self.refine_crop = refine_crop
        self.refine_tolerance = refine_tolerance
        self.refine_min_yaw_deg = refine_min_yaw_deg
        self.flip_test = flip_test
        self.pose_frame = pose_frame
        self.roll_limit_deg = roll_limit_deg
        self.retry_turns = retry_turns
        self.shift_steps = shift_steps
        self.equalise_when_empty = equalise_when_empty
        self.search_finer = search_finer

    @property
    def refiner_2d(self) -> Refiner2D | None:
        """The 2D refiner used with ``landmarks='2d'`` (None: none)."""
        if isinstance(self._refiner_2d, Path):
            self._refiner_2d = load_companion(self._refiner_2d, Refiner2D.load)
        return self._refiner_2d

    @property
    def model_identity(self) -> ModelIdentity:
        """Which model this is (name, file SHA-256) and the parts it holds and can apply: a
        part turned off at construction (``refiner_2d=None``) is not listed."""
        calibrated = ("pose_calibration",) if "pose_calibration" in self._identity.parts else ()
        return self._identity.with_parts(
            parts_of(self._refiner_2d, self.offsets_3d, None) + calibrated
        )

    def applied_parts(self, convention: str | None = None) -> tuple[str, ...]:
        """The model's parts that shape a face of ``convention`` ('3d' / '2d'; default: the
        predictor's) from a photo: the cascade and its pose calibration always, the 3d offsets
        for '3d' only, the 2D refiner for '2d' only."""
        return applied_parts(self.model_identity.parts, convention or self.landmarks)

    @property
    def landmarks(self) -> str:
        """The landmark definition of the faces returned: '3d' or '2d' (core/landmarks2d.py)."""
        return self._landmarks

    @landmarks.setter
    def landmarks(self, convention: str) -> None:
        if convention not in LANDMARK_CONVENTIONS:
            raise ValueError(f"landmarks must be one of {LANDMARK_CONVENTIONS}, not {convention!r}")
        definition = Landmarks2D.load() if convention == "2d" else None
        if convention == "2d":
            _ = self.refiner_2d  # an unusable refiner file is reported now, not mid-prediction
        self._definition_2d = definition
        self._landmarks = convention

    @classmethod
    def from_weights(cls, weights: Path | None = None, **kwargs: object) -> Predictor:
        """Load a model file (default: the shipped model; core/model_file.py) with its 2D
        refiner and 3d offsets (an old-format file: those beside it); pass ``refiner_2d=None``
        or ``offsets_3d=None`` for none. Raises WeightsError when unusable."""
        topology = Topology.load()
        loaded = load_model(weights, topology)
        kwargs.setdefault("refiner_2d", loaded.refiner)
        kwargs.setdefault("offsets_3d", loaded.offsets)
        kwargs.setdefault("identity", loaded.identity)
        kwargs.setdefault("pose_frame", mesh_pose_frame_of(loaded.meta))
        return cls(loaded.cascade, topology, **kwargs)  # type: ignore[arg-type]

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            from mtface.core.detection.yunet import default_detector

            self._detector = default_detector()
        return self._detector

    @property
    def fine_detector(self) -> Detector | None:
        """The detector without its coarse first search (its ``finer()``: the default chain
        as with ``--small-faces``), for a second look where a settled detection fits badly
        (ADR 39); None with ``search_finer`` off or a detector without a finer form."""
        if not self.search_finer:
            return None
        if self._fine_detector is None:
            finer = getattr(self.detector, "finer", None)
            self._fine_detector = (finer() if finer is not None else None,)
        return self._fine_detector[0]

    @property
    def video_detector(self) -> Detector:
        """The detector for video frames (the live tracker's): the caller's detector when one
        was given, else the default chain without its costly searches (ADR 36)."""
        if self._video_detector is None:
            from mtface.core.detection.yunet import default_detector

            self._video_detector = default_detector(video=True)
        return self._video_detector

    # --- crops ------------------------------------------------------------------------------

    @torch.inference_mode()
    def predict_crops(self, crops: np.ndarray, mirrored: Sequence[int] = ()) -> CropResult:
        """crops (N, S, S, 3) RGB uint8 with S = the model's crop size -> CropResult; the crops
        listed in ``mirrored`` also go through stage 1 mirrored, in the same stage-1 batch
        (``CropResult.mirrored``; not with ``flip_test``)."""
        x = crops_to_tensor(crops)
        if mirrored and not self.flip_test:
            n, picked = len(x), list(mirrored)
            kp, vt, ps = self.model.first_stage(torch.cat([x, torch.flip(x[picked], dims=[3])]))
            out = self.model(x, first=(kp[:n], vt[:n], ps[:n]))
            keypoints = normalised_to_crop(kp[n:], self.crop_size).numpy()
            pose = pose_from_normalised(ps[n:]).numpy()
            done = {i: (keypoints[k], pose[k]) for k, i in enumerate(picked)}
        else:
            out, done = self.model(x), {}
        kp = torch.stack(out.keypoints, 1)
        vt = torch.stack(out.vertices, 1)
        ps = torch.stack(out.pose, 1)
        if not self.flip_test:  # the model's own visibility of each stage's mesh
            return replace(
                self._crop_result(kp, vt, ps, torch.stack(out.visibility, 1)), mirrored=done
            )
        flipped = self.model(torch.flip(x, dims=[3]))
        perm_v = torch.as_tensor(self.topology.flip_permutation)
        perm_k = torch.as_tensor(self.topology.landmark_flip_permutation)
        mirror = torch.tensor([-1.0, 1.0, 1.0])
        kp = (kp + torch.stack(flipped.keypoints, 1)[:, :, perm_k] * mirror) / 2
        vt = (vt + torch.stack(flipped.vertices, 1)[:, :, perm_v] * mirror) / 2
        ps = (ps + torch.stack(flipped.pose, 1) * torch.tensor([1.0, -1.0, -1.0])) / 2
        return self._crop_result(kp, vt, ps)  # the averaged mesh's own visibility

    def _crop_result(
        self,
        kp: torch.Tensor,
        vt: torch.Tensor,
        ps: torch.Tensor,
        vis: torch.Tensor | None = None,
    ) -> CropResult:
        """Stacked per-stage outputs (N, stages, ...) in normalised crop coordinates -> crop
        pixels, with the visibility of each stage's mesh (``vis`` (N, stages, 68) when known,
        else computed from ``vt``) and the pose in degrees."""
        if vis is None:
            vis = torch.stack([self.model.visibility(vt[:, k]) for k in range(vt.shape[1])], 1)
        size = self.crop_size
        return CropResult(
            normalised_to_crop(kp, size).numpy(),
            normalised_to_crop(vt, size).numpy(),
            vis.numpy(),
            pose_from_normalised(ps).numpy(),
        )

    def _crop(self, image: np.ndarray, tf: CropTransform) -> np.ndarray:
        return cv2.warpAffine(
            image,
            tf.affine(),
            (self.crop_size, self.crop_size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )

    def crop_from_box(self, box: FaceBox) -> CropTransform:
        """The crop for a detector (or caller) box; turned with the face when the detector's
        points say it is turned on screen beyond ``roll_limit_deg`` (ADR 35)."""
        w, h = box.width, box.height
        side = max(w, h) * DETECTOR_BOX_SCALE * PROTOCOL_CROP_ENLARGE
        angle = crop_angle(roll_of_detector_points(box.keypoints), self.roll_limit_deg)
        shift = DETECTOR_BOX_SHIFT_Y * h  # down the face
        cx = (box.x0 + box.x1) / 2.0 - np.sin(angle) * shift
        cy = (box.y0 + box.y1) / 2.0 + np.cos(angle) * shift
        return CropTransform.about_centre(cx, cy, side, self.crop_size, angle)

    def crop_from_landmark_box(self, box: FaceBox) -> CropTransform:
        """The evaluation protocol's crop for a tight box around the 68 landmarks."""
        return CropTransform.from_box(box.as_tuple(), self.crop_size, PROTOCOL_CROP_ENLARGE)

    def crop_from_landmarks(self, landmarks_2d: np.ndarray) -> CropTransform:
        """The training crop rule applied to 2D landmarks (68, 2) in image pixels, in a crop
        turned with the face when they are turned on screen beyond ``roll_limit_deg``."""
        angle = crop_angle(roll_of_landmarks(landmarks_2d), self.roll_limit_deg)
        return protocol_crop(landmarks_2d, self.crop_size, angle=angle)

    def run_on_transforms(
        self, image: np.ndarray, transforms: list[CropTransform], mirrored: Sequence[int] = ()
    ) -> CropResult:
        """``predict_crops`` on the crops ``transforms`` of ``image``."""
        crops = np.stack([self._crop(image, tf) for tf in transforms])
        return self.predict_crops(crops, mirrored)

    # --- whole images -----------------------------------------------------------------------

    def predict(
        self,
        image: np.ndarray,
        boxes: list[FaceBox] | None = None,
        box_kind: str | None = None,
        refine: bool | None = None,
    ) -> Prediction:
        """RGB uint8 (H, W, 3) -> Prediction with every face (detected unless ``boxes``).

        ``box_kind`` says what caller boxes are (``BOX_KINDS``; default: the predictor's
        ``box_kind``): with 'landmarks' the first crop is exactly the evaluation protocol's (and
        with ``refine=False`` the only one). ``refine`` (default: ``refine_crop``) re-crops
        from the first pass's landmarks for a second pass."""
        box_kind = box_kind or self.box_kind
        refine = self.refine_crop if refine is None else refine
        if box_kind not in BOX_KINDS:
            raise ValueError(f"box_kind must be one of {BOX_KINDS}, not {box_kind!r}")
        t0 = time.perf_counter()
        detected, equalised = boxes is None, False
        alternatives: list[FaceBox] | None = None
        if boxes is None:
            boxes, alternatives = detect_with_alternatives(self.detector, image)
            equalised = not boxes and self.equalise_when_empty
            if equalised:  # a faint face: found and fitted on the picture equalised (ADR 37)
                image = contrast_equalised(image)
                boxes, alternatives = detect_with_alternatives(self.detector, image)
            box_kind = "detector"
        t1 = time.perf_counter()
        faces: list[Face] = []
        if boxes:
            first_crop = (
                self.crop_from_box if box_kind == "detector" else self.crop_from_landmark_box
            )
            transforms = [first_crop(b) for b in boxes]
            faces = self.faces_from_crops(image, boxes, transforms, refine)
            t2 = time.perf_counter()
            looks = SecondLooks(self, image, refine)  # core/second_looks.py
            if box_kind == "detector":  # the protocol's crop (landmark boxes) stays one try
                faces = looks.turned(boxes, transforms, faces)
            if detected:
                faces = looks.other_boxes(faces, alternatives)
            if box_kind == "detector":
                faces = looks.moved(faces)
            if detected:
                faces = looks.finer(faces)
                faces = [f for f in faces if confirmed(f, equalised)]
        else:
            t2 = t1
        t3 = time.perf_counter()
        timings = Timings(
            detect_ms=(t1 - t0) * 1e3,
            stage_ms=((t2 - t1) * 1e3,),
            post_ms=(t3 - t2) * 1e3,
            total_ms=(t3 - t0) * 1e3,
        )
        return Prediction(faces, (int(image.shape[0]), int(image.shape[1])), timings)

    def faces_from_crops(
        self,
        image: np.ndarray,
        boxes: list[FaceBox],
        transforms: list[CropTransform],
        refine: bool,
    ) -> list[Face]:
        """The faces of ``boxes`` from their first crops ``transforms``, in one batch: the
        cascade, the re-crop from the landmarks when ``refine``, each face's confidence. The
        confidence's mirrored stage 1 runs with the first pass for the faces likely to keep
        their first crop: all without ``refine``, else those whose five points look
        near-frontal (ADR 13, ADR 40)."""
        first_transforms = list(transforms)
        ahead = [
            i
            for i, box in enumerate(boxes)
            if not refine or turn_ratio(box.keypoints) <= TURN_LIMIT
        ]
        result = self.run_on_transforms(image, transforms, ahead)
        fits: list[CropTransform | None] | None = None
        if refine:
            transforms, result, fits = self._refine(image, boxes, list(transforms), result)
        evidence = self.confidence_evidence(image, first_transforms, transforms, result, fits)
        return [
            replace(
                self.face_from_result(box, tf, result, i, image),
                confidence=confidence_from_evidence(evidence[i]),
            )
            for i, (box, tf) in enumerate(zip(boxes, transforms))
        ]

    def confidence_evidence(
        self,
        image: np.ndarray,
        first: list[CropTransform],
        final: list[CropTransform],
        result: CropResult,
        fits: list[CropTransform | None] | None = None,
    ) -> list[ConfidenceEvidence]:
        """The confidence evidence of each face (core/confidence.py): its final crop mirrored
        goes through stage 1 (``_first_stage``, one batch: a fraction of the cascade's cost;
        faces in ``result.mirrored`` had it with their pass) and is compared with
        ``result``'s stage 1; ``first`` are the crops made from the boxes; ``fits``: the
        training-rule crop of each face's final landmarks where already made (``_refine``'s),
        else None."""
        mirrored = dict(result.mirrored)
        todo = [i for i in range(len(final)) if i not in mirrored]
        if todo:
            crops = np.stack([self._crop(image, final[i])[:, ::-1] for i in todo])
            mirrored.update(zip(todo, zip(*self._first_stage(crops))))
        perm = self.topology.landmark_flip_permutation
        out = []
        for i, (a, b) in enumerate(zip(first, final)):
            fit = fits[i] if fits is not None else None
            if fit is None:
                fit = self.crop_from_landmarks(b.to_image(result.keypoints[i, -1])[:, :2])
            mirrored_keypoints, mirrored_pose = mirrored[i]
            out.append(
                crop_evidence(
                    result.keypoints[i],
                    mirrored_keypoints,
                    float(result.pose[i, 0, 1]),
                    float(mirrored_pose[1]),
                    self.crop_size,
                    perm,
                    crop_change(a, fit),
                )
            )
        return out

    @torch.inference_mode()
    def _first_stage(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1 alone on crops (N, S, S, 3) RGB uint8: keypoints (N, 68, 3) in crop pixels
        and pose (N, 3) degrees; no mesh visibility or later stages (the confidence's mirror,
        a fraction of a cascade pass)."""
        keypoints, _, pose = self.model.first_stage(crops_to_tensor(crops))
        return (
            normalised_to_crop(keypoints, self.crop_size).numpy(),
            pose_from_normalised(pose).numpy(),
        )

    def _near_frontal(self, box: FaceBox, yaw_deg: float) -> bool:
        """Both the detector's five points (``turn_ratio`` at most ``TURN_LIMIT``) and the
        first pass (|yaw| at most ``refine_min_yaw_deg``) see a near-frontal face; False for
        boxes without five points (BlazeFace's, a caller's)."""
        return abs(yaw_deg) <= self.refine_min_yaw_deg and turn_ratio(box.keypoints) <= TURN_LIMIT

    def _refine(
        self,
        image: np.ndarray,
        boxes: list[FaceBox],
        transforms: list[CropTransform],
        result: CropResult,
    ) -> tuple[list[CropTransform], CropResult, list[CropTransform | None]]:
        """The second pass: each face cropped again from its first-pass landmarks with the
        training rule. Faces keep their first pass when ``_near_frontal`` (the re-crop gains
        little there, ADR 13) or when their new crop moves less than ``refine_tolerance`` (of
        the crop side, in centre and scale). Also returns each face's training-rule crop of its
        final landmarks where made here (those that kept their first pass; None for the others)
        for the confidence."""
        refined = [
            self.crop_from_landmarks(tf.to_image(result.keypoints[i, -1])[:, :2])
            for i, tf in enumerate(transforms)
        ]
        redo = [
            i
            for i, (a, b) in enumerate(zip(transforms, refined))
            if crop_change(a, b) > self.refine_tolerance
            and (
                a.angle != b.angle or not self._near_frontal(boxes[i], float(result.pose[i, -1, 1]))
            )
        ]
        if not redo:
            return transforms, result, list(refined)
        again = self.run_on_transforms(image, [refined[i] for i in redo])
        arrays = [
            np.array(a, copy=True)
            for a in (result.keypoints, result.vertices, result.visibility, result.pose)
        ]
        for k, i in enumerate(redo):
            for merged, new in zip(
                arrays, (again.keypoints, again.vertices, again.visibility, again.pose)
            ):
                merged[i] = new[k]
            transforms[i] = refined[i]
        kept = {i: v for i, v in result.mirrored.items() if i not in redo}  # of the first crop
        fits = [None if i in redo else tf for i, tf in enumerate(refined)]
        return transforms, CropResult(*arrays, mirrored=kept), fits

    def predict_face(
        self,
        image: np.ndarray,
        box: FaceBox | None = None,
        landmarks_2d: np.ndarray | None = None,
        box_kind: str | None = None,
        refine: bool | None = None,
    ) -> Face:
        """One face through one crop policy (the seam the video tracker shares with still
        images): from a ``box`` (of ``box_kind``, re-cropped from its landmarks when ``refine``)
        exactly as :meth:`predict`, or from 2D ``landmarks_2d`` (68, 2) of the previous frame:
        the training crop rule around them, one pass."""
        if (box is None) == (landmarks_2d is None):
            raise ValueError("give a box or landmarks_2d (one crop policy)")
        if box is not None:
            return self.predict(image, [box], box_kind=box_kind, refine=refine).faces[0]
        tf = self.crop_from_landmarks(np.asarray(landmarks_2d, dtype=np.float64)[:, :2])
        result = self.run_on_transforms(image, [tf])
        face_box = FaceBox(*box_of_points(tf.to_image(result.keypoints[0, -1])), 1.0)
        return self.face_from_result(face_box, tf, result, 0, image)

    @torch.inference_mode()
    def refine_from_landmarks(
        self, image: np.ndarray, landmarks_2d: np.ndarray, visible: np.ndarray, box: FaceBox
    ) -> Face:
        """Re-run stage 2 with its MSIF around given 2D landmarks (68, 2) and visibility (68,)
        (a person's corrections); depth comes from a stage-1 pass on the same crop. Given 3d
        landmarks carry the 3d offsets; stage 2 takes the network's own keypoints, so the
        offsets (carried by the stage-1 mesh) come off first and go on again at the end."""
        tf = self.crop_from_landmarks(landmarks_2d)
        crop = self._crop(image, tf)
        first = self.predict_crops(crop[None])
        kp = first.keypoints[0, 0].copy()
        given = np.asarray(landmarks_2d, dtype=np.float64)
        if self._definition_2d is None:
            offsets = self._offsets_3d_shift(
                tf.to_image(first.keypoints[0, 0]), tf.to_image(first.vertices[0, 0])
            )
            given = given - offsets[:, :2]
        kp[:, :2] = tf.to_crop(given)
        kp_n = torch.as_tensor(
            crop_to_normalised(kp.astype(np.float64), self.crop_size), dtype=torch.float32
        )[None]
        out = self.model.refine(
            crops_to_tensor(crop[None]),
            kp_n,
            torch.as_tensor(visible, dtype=torch.bool)[None],
        )
        result = self._crop_result(
            torch.stack(out.keypoints, 1), torch.stack(out.vertices, 1), torch.stack(out.pose, 1)
        )
        return self.face_from_result(box, tf, result, 0)

    def _offsets_3d_shift(self, keypoints: np.ndarray, vertices: np.ndarray) -> np.ndarray:
        """What the 3d offsets add to one face's keypoints (68, 3), image pixels, given its
        keypoints (68, 3) and mesh (V, 3) in image pixels; zeros without offsets."""
        if self.offsets_3d is None:
            return np.zeros((len(keypoints), 3))
        keypoints = np.asarray(keypoints, dtype=np.float64)
        template = self.topology.vertices.astype(np.float64)
        moved = self.offsets_3d.apply(keypoints, np.asarray(vertices, np.float64), template)
        return moved - keypoints

    def _reported_pose(self, last: StageOutput) -> Pose:
        """The pose a face reports: its mesh's in the model's pose frame when the model has
        one (ADR 34), else the regression head's (the stages keep the head's)."""
        if self.pose_frame is None:
            return last.pose
        return Pose(*map(float, pose_from_mesh(last.vertices, self.topology, self.pose_frame)))

    def face_from_result(
        self,
        box: FaceBox,
        tf: CropTransform,
        result: CropResult,
        i: int,
        image: np.ndarray | None = None,
    ) -> Face:
        """Face ``i`` of a cascade result on crops, in image pixels (``tf`` its crop), with the
        predictor's landmark definition; 2D landmarks are refined on ``image`` (the photo the
        crops came from) when the predictor has a refiner."""
        stages = []
        for k in range(result.keypoints.shape[1]):
            stages.append(
                StageOutput(
                    vertices=tf.to_image(result.vertices[i, k]).astype(np.float32),
                    landmarks=tf.to_image(result.keypoints[i, k]).astype(np.float32),
                    visible=result.visibility[i, k] > 0,
                    pose=Pose(*map(float, pose_turned_on_screen(result.pose[i, k], tf.angle))),
                )
            )
        last = stages[-1]
        landmarks = last.landmarks
        if self._definition_2d is not None:
            landmarks = landmarks.copy()
            landmarks[:, :2] = self._definition_2d.points_for_cascade(
                last.vertices,
                last.landmarks,
                self.topology.landmarks_from_vertices(last.vertices.astype(np.float64)),
            )
            refiner = self.refiner_2d if image is not None else None
            if refiner is not None:
                landmarks[:, :2] = refiner.refine(
                    image, landmarks[:, :2].astype(np.float64), yaw_deg=last.pose.yaw
                )
        else:
            landmarks = (landmarks + self._offsets_3d_shift(last.landmarks, last.vertices)).astype(
                np.float32
            )
        # what a person sees: occlusion by the mesh (core/visibility.py); the stages keep the
        # cascade's own normal-based visibility, which its MSIF was trained with
        visible = reported_visibility(
            landmarks,
            last.vertices,
            self.topology.triangles,
            CONTOUR_POINTS,
            contour_on_outline=self._definition_2d is not None,  # 2d: seen by definition
        )
        return Face(
            box=box,
            vertices=last.vertices,
            landmarks=landmarks,
            visible=visible,
            pose=self._reported_pose(last),
            stages=tuple(stages),
            convention=self.landmarks,
        )
