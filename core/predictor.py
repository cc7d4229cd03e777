"""Image -> reconstructed faces: detect, crop, stage 1, MSIF, stage 2, back to image pixels.

All faces of an image go through the cascade in one batch. Without caller boxes the face
detector gives them; with ``refine_crop`` the face is cropped a second time from the first
pass's landmarks with the training crop rule (3DDFA: sqrt(2) x the larger side of the landmark
box), which removes the difference between detector boxes and the crops the model learnt on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from mtface.core.checkpoint import load_cascade
from mtface.core.geometry import PROTOCOL_CROP_ENLARGE, CropTransform, protocol_crop
from mtface.core.model import POSE_SCALE_DEGREES, CascadeMTCNN, fuse_batchnorm
from mtface.core.topology import Topology
from mtface.core.types import Face, FaceBox, Pose, Prediction, StageOutput, Timings

#: Detector box -> landmark box: medians over 255 teacher-labelled LFW training faces of
#: max side(landmark box) / max side(BlazeFace box) = 0.881 and of the vertical centre offset
#: = 0.030 x box height (horizontal offset -0.005, ignored).
DETECTOR_BOX_SCALE = 0.881
DETECTOR_BOX_SHIFT_Y = 0.030


@dataclass(frozen=True)
class CropResult:
    """Cascade output for a batch of crops, in crop pixels (z with the same scale).

    keypoints (N, stages, 68, 3), vertices (N, stages, V, 3), visibility (N, stages, 68) scores,
    pose (N, stages, 3) degrees.
    """

    keypoints: np.ndarray
    vertices: np.ndarray
    visibility: np.ndarray
    pose: np.ndarray


class Predictor:
    """Runs the cascade. ``predict(image)`` for whole images, ``predict_crops`` for crops."""

    def __init__(self, model: CascadeMTCNN, topology: Topology | None = None,
                 detector: object | None = None, refine_crop: bool = True,
                 flip_test: bool = False) -> None:
        self.topology = topology or Topology.load()
        self.model = fuse_batchnorm(model.eval()).to(memory_format=torch.channels_last)
        self.crop_size = model.config.crop_size
        self._detector = detector
        self.refine_crop = refine_crop
        self.flip_test = flip_test

    @classmethod
    def from_weights(cls, weights: Path | None = None, **kwargs: object) -> "Predictor":
        """Load weights (default: the shipped model). Raises WeightsError when unusable."""
        topology = Topology.load()
        model, _ = load_cascade(weights, topology)
        return cls(model, topology, **kwargs)  # type: ignore[arg-type]

    @property
    def detector(self) -> object:
        if self._detector is None:
            from mtface.core.detection.blazeface import BlazeFaceDetector  # noqa: PLC0415

            self._detector = BlazeFaceDetector()
        return self._detector

    # --- crops ------------------------------------------------------------------------------

    @torch.inference_mode()
    def predict_crops(self, crops: np.ndarray) -> CropResult:
        """crops (N, S, S, 3) RGB uint8 with S = the model's crop size -> CropResult."""
        x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0
        x = x.contiguous(memory_format=torch.channels_last)
        out = self.model(x)
        kp = torch.stack(out.keypoints, 1)
        vt = torch.stack(out.vertices, 1)
        ps = torch.stack(out.pose, 1)
        if self.flip_test:
            flipped = self.model(torch.flip(x, dims=[3]))
            perm_v = torch.as_tensor(self.topology.flip_permutation)
            perm_k = torch.as_tensor(self.topology.landmark_flip_permutation)
            mirror = torch.tensor([-1.0, 1.0, 1.0])
            kp = (kp + torch.stack(flipped.keypoints, 1)[:, :, perm_k] * mirror) / 2
            vt = (vt + torch.stack(flipped.vertices, 1)[:, :, perm_v] * mirror) / 2
            ps = (ps + torch.stack(flipped.pose, 1) * torch.tensor([1.0, -1.0, -1.0])) / 2
        return self._crop_result(kp, vt, ps)

    def _crop_result(self, kp: torch.Tensor, vt: torch.Tensor, ps: torch.Tensor) -> CropResult:
        """Stacked per-stage outputs (N, stages, ...) in normalised crop coordinates -> crop
        pixels, with the visibility of each stage's mesh and the pose in degrees."""
        vis = torch.stack([self.model.visibility(vt[:, k]) for k in range(vt.shape[1])], 1)
        half, centre = self.crop_size / 2.0, (self.crop_size - 1) / 2.0
        scale = torch.tensor([half, half, half])
        shift = torch.tensor([centre, centre, 0.0])
        return CropResult((kp * scale + shift).numpy(), (vt * scale + shift).numpy(),
                          vis.numpy(), (ps * POSE_SCALE_DEGREES).numpy())

    def _crop(self, image: np.ndarray, tf: CropTransform) -> np.ndarray:
        return cv2.warpAffine(image, tf.affine(), (self.crop_size, self.crop_size),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def crop_from_box(self, box: FaceBox) -> CropTransform:
        """The crop for a detector (or caller) box."""
        w, h = box.width, box.height
        side = max(w, h) * DETECTOR_BOX_SCALE
        cx = (box.x0 + box.x1) / 2.0
        cy = (box.y0 + box.y1) / 2.0 + DETECTOR_BOX_SHIFT_Y * h
        return CropTransform.from_box((cx - side / 2, cy - side / 2, cx + side / 2,
                                       cy + side / 2), self.crop_size, PROTOCOL_CROP_ENLARGE)

    def crop_from_landmarks(self, landmarks_2d: np.ndarray) -> CropTransform:
        """The training crop rule applied to 2D landmarks (68, 2) in image pixels."""
        return protocol_crop(landmarks_2d, self.crop_size)

    def run_on_transforms(self, image: np.ndarray, transforms: list[CropTransform]
                          ) -> CropResult:
        crops = np.stack([self._crop(image, tf) for tf in transforms])
        return self.predict_crops(crops)

    # --- whole images -----------------------------------------------------------------------

    def predict(self, image: np.ndarray, boxes: list[FaceBox] | None = None) -> Prediction:
        """RGB uint8 (H, W, 3) -> Prediction with every face (detected unless ``boxes``)."""
        t0 = time.perf_counter()
        if boxes is None:
            boxes = self.detector.detect(image)  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        faces: list[Face] = []
        if boxes:
            transforms = [self.crop_from_box(b) for b in boxes]
            result = self.run_on_transforms(image, transforms)
            if self.refine_crop:
                transforms = [self.crop_from_landmarks(tf.to_image(result.keypoints[i, -1])[:, :2])
                              for i, tf in enumerate(transforms)]
                result = self.run_on_transforms(image, transforms)
            t2 = time.perf_counter()
            faces = [self._face(box, tf, result, i)
                     for i, (box, tf) in enumerate(zip(boxes, transforms))]
        else:
            t2 = t1
        t3 = time.perf_counter()
        timings = Timings(detect_ms=(t1 - t0) * 1e3, stage_ms=((t2 - t1) * 1e3,),
                          post_ms=(t3 - t2) * 1e3, total_ms=(t3 - t0) * 1e3)
        return Prediction(faces, (int(image.shape[0]), int(image.shape[1])), timings)

    @torch.inference_mode()
    def refine_from_landmarks(self, image: np.ndarray, landmarks_2d: np.ndarray,
                              visible: np.ndarray, box: FaceBox) -> Face:
        """Re-run stage 2 with its MSIF around given 2D landmarks (68, 2) and visibility (68,)
        (a person's corrections); depth comes from a stage-1 pass on the same crop."""
        tf = self.crop_from_landmarks(landmarks_2d)
        crop = self._crop(image, tf)
        first = self.predict_crops(crop[None])
        kp = first.keypoints[0, 0].copy()
        kp[:, :2] = tf.to_crop(landmarks_2d)
        half, centre = self.crop_size / 2.0, (self.crop_size - 1) / 2.0
        kp_n = torch.as_tensor((kp - np.array([centre, centre, 0.0])) / half,
                               dtype=torch.float32)[None]
        x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255.0
        out = self.model.refine(x.contiguous(memory_format=torch.channels_last), kp_n,
                                torch.as_tensor(visible, dtype=torch.bool)[None])
        result = self._crop_result(torch.stack(out.keypoints, 1), torch.stack(out.vertices, 1),
                                   torch.stack(out.pose, 1))
        return self._face(box, tf, result, 0)

    def _face(self, box: FaceBox, tf: CropTransform, result: CropResult, i: int) -> Face:
        stages = []
        for k in range(result.keypoints.shape[1]):
            stages.append(StageOutput(
                vertices=tf.to_image(result.vertices[i, k]).astype(np.float32),
                landmarks=tf.to_image(result.keypoints[i, k]).astype(np.float32),
                visible=result.visibility[i, k] > 0,
                pose=Pose(*map(float, result.pose[i, k]))))
        last = stages[-1]
        return Face(box=box, vertices=last.vertices, landmarks=last.landmarks,
                    visible=last.visible, pose=last.pose, stages=tuple(stages))
