"""Training samples: crops of the synthetic set with label-respecting augmentation.

A sample is the 3DDFA-style crop (side sqrt(2) x the larger side of the 68-landmark box, centred
on it; the same rule as ``mtface evaluate`` and the predictor's refined crop), jittered in scale
and position, optionally mirrored (the topology's left-right permutation; yaw and roll change
sign), with colour, blur, noise, occluders and inpainted spots (so the spots left by cleaning
the drawn LFW dots carry no information).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from mtface.core.crop_coords import crop_to_normalised, pose_to_normalised
from mtface.core.geometry import CropTransform, box_of_points, protocol_crop
from mtface.core.topology import Topology


def normalise_shape(vertices_crop: np.ndarray, size: int) -> np.ndarray:
    """Crop pixels (..., V, 3) -> float32 normalised crop coordinates (core/crop_coords.py),
    z first centred on each shape's mean."""
    out = np.array(vertices_crop, dtype=np.float32, copy=True)
    out[..., 2] = out[..., 2] - out[..., 2].mean(axis=-1, keepdims=True)
    return crop_to_normalised(out, size)


@dataclass(frozen=True)
class AugmentConfig:
    scale_jitter: tuple[float, float] = (0.9, 1.12)
    shift_jitter: float = 0.07
    flip: float = 0.5
    colour: float = 0.8
    grayscale: float = 0.08
    blur: float = 0.2
    noise: float = 0.2
    occluder: float = 0.25
    spots: float = 0.3


class SyntheticFaces(Dataset):
    """Items: (image float (3, S, S) in [0, 1], keypoints (68, 3), vertices (V, 3), pose (3,)),
    all targets in normalised crop coordinates and pose in degrees / 90."""

    def __init__(
        self,
        folder: Path,
        topology: Topology,
        crop_size: int = 120,
        augment: AugmentConfig | None = None,
        indices: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        folder = Path(folder)
        self.meta = json.loads((folder / "meta.json").read_text())
        self.images = np.load(folder / "images.npy", mmap_mode="r")
        self.vertices = np.load(folder / "vertices.npy")
        self.pose = np.load(folder / "pose.npy")
        self.indices = np.arange(len(self.vertices)) if indices is None else indices
        self.topology = topology
        self.crop_size = crop_size
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, item: int) -> tuple[torch.Tensor, ...]:
        index = int(self.indices[item])
        rng = np.random.default_rng((self.seed, self.epoch, index))
        image = np.asarray(self.images[index])
        vertices = self.vertices[index].astype(np.float64)
        pose = self.pose[index].astype(np.float64)
        aug = self.augment
        if aug is not None and rng.random() < aug.flip:
            image = image[:, ::-1]
            vertices = vertices[self.topology.flip_permutation].copy()
            vertices[:, 0] = image.shape[1] - 1 - vertices[:, 0]
            pose = pose * np.array([1.0, -1.0, -1.0])
        landmarks = self.topology.landmarks_from_vertices(vertices)
        tf = protocol_crop(landmarks[:, :2], self.crop_size)
        if aug is not None:
            scale = rng.uniform(*aug.scale_jitter)
            side = self.crop_size / tf.scale * scale
            shift = rng.uniform(-aug.shift_jitter, aug.shift_jitter, 2) * side
            x0, y0, x1, y1 = box_of_points(landmarks)
            cx, cy = (x0 + x1) / 2 + shift[0], (y0 + y1) / 2 + shift[1]
            tf = CropTransform.from_box(
                (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), self.crop_size
            )
        crop = cv2.warpAffine(
            np.ascontiguousarray(image),
            tf.affine(),
            (self.crop_size, self.crop_size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if aug is not None:
            crop = _photometric(crop, rng, aug)
        vertices_n = normalise_shape(tf.to_crop(vertices), self.crop_size)
        keypoints_n = self.topology.landmarks_from_vertices(vertices_n.astype(np.float64))
        image_t = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float() / 255.0
        return (
            image_t,
            torch.from_numpy(keypoints_n.astype(np.float32)),
            torch.from_numpy(vertices_n),
            torch.from_numpy(pose_to_normalised(pose).astype(np.float32)),
        )


class ConcatFaces(ConcatDataset):
    """Several sample sets trained on together; ``set_epoch`` reaches each of them."""

    def set_epoch(self, epoch: int) -> None:
        for part in self.datasets:
            part.set_epoch(epoch)  # type: ignore[attr-defined]


def _photometric(crop: np.ndarray, rng: np.random.Generator, aug: AugmentConfig) -> np.ndarray:
    out = crop.astype(np.float32)
    size = crop.shape[0]
    if rng.random() < aug.spots:  # inpainted spots like the ones cleaning leaves
        mask = np.zeros((size, size), np.uint8)
        for _ in range(rng.integers(5, 40)):
            x, y = rng.integers(0, size, 2)
            cv2.circle(mask, (int(x), int(y)), 1, 255, -1)
        out = cv2.inpaint(out.clip(0, 255).astype(np.uint8), mask, 2, cv2.INPAINT_TELEA).astype(
            np.float32
        )
    if rng.random() < aug.colour:
        out = out * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30)  # contrast, brightness
        gray = out.mean(axis=2, keepdims=True)
        out = gray + (out - gray) * rng.uniform(0.5, 1.5)  # saturation
        out = out * rng.uniform(0.9, 1.1, 3)  # white balance
    if rng.random() < aug.grayscale:
        out = np.repeat(out.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < aug.blur:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    if rng.random() < aug.noise:
        out = out + rng.normal(0, rng.uniform(3, 12), out.shape)
    if rng.random() < aug.occluder:
        w, h = rng.integers(size // 6, size // 2, 2)
        x, y = rng.integers(0, size - w), rng.integers(0, size - h)
        if rng.random() < 0.5:
            out[y : y + h, x : x + w] = rng.uniform(0, 255, 3)
        else:
            out[y : y + h, x : x + w] = rng.uniform(0, 255, (h, w, 3))
    return out.clip(0, 255).astype(np.uint8)
