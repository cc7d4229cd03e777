"""Validation during training: the synthetic large-pose split and real AFLW faces.

``aflw_val`` (../shared/data/aflw_val) is for validation only: it chooses the checkpoint, it is
never trained on.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import torch

from mtface.core.crop_coords import normalised_to_crop, pose_from_normalised
from mtface.core.evaluation import aflw21_nme, binned, load_aflw_val, nme_box
from mtface.core.imageio import load_image
from mtface.core.model import CascadeMTCNN
from mtface.core.predictor import Predictor
from mtface.core.topology import Topology

if TYPE_CHECKING:
    from mtface.core.training.trainer import TrainConfig


def _batched(predictor: Predictor, crops: np.ndarray, batch: int = 128) -> np.ndarray:
    """68 landmarks (N, 68, 2) of the last stage in crop pixels."""
    out = [
        predictor.predict_crops(crops[i : i + batch]).keypoints[:, -1, :, :2]
        for i in range(0, len(crops), batch)
    ]
    return np.concatenate(out)


def aflw_val_report(predictor: Predictor, folder: str, limit: int | None = None) -> dict:
    paths, yaws, gt21, side = load_aflw_val(folder)
    if limit is not None:
        step = max(len(paths) // limit, 1)
        paths, yaws, gt21 = paths[::step], yaws[::step], gt21[::step]
    crops = np.stack([load_image(p) for p in paths])
    errors = aflw21_nme(_batched(predictor, crops), gt21, side)
    report = binned(errors, yaws)
    return {"aflw_val_bins": report.bins, "aflw_val_mean": report.mean}


def synthetic_val_report(predictor: Predictor, folder: str, limit: int | None = None) -> dict:
    from mtface.core.training.dataset import SyntheticFaces

    data = SyntheticFaces(folder, predictor.topology, predictor.crop_size, augment=None)
    indices = np.arange(len(data))
    if limit is not None:
        indices = indices[:: max(len(indices) // limit, 1)]
    items = [data[int(i)] for i in indices]
    crops = np.stack(
        [(it[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for it in items]
    )
    gt = np.stack([normalised_to_crop(it[1][:, :2].numpy(), predictor.crop_size) for it in items])
    yaws = np.array([pose_from_normalised(float(it[3][1])) for it in items])
    errors = nme_box(_batched(predictor, crops), gt)
    report = binned(errors, yaws)
    return {"synthetic_val_bins": report.bins, "synthetic_val_mean": report.mean}


def human_val_report(predictor: Predictor, labels_dir: str) -> dict:
    """Inter-ocular NME (%) of the 2D landmark definition on the validation photos of a label
    folder made from human annotations, on the protocol crop of the human points."""
    from mtface.core.data.labels import load_human_labels
    from mtface.core.evaluation import nme_interocular
    from mtface.core.geometry import protocol_crop
    from mtface.core.landmarks2d import Landmarks2D

    labels, held_out = load_human_labels(labels_dir)
    val = np.nonzero(held_out)[0]
    definition = Landmarks2D.load()
    pred, targets = [], []
    for i in val:
        human = labels.human_landmarks[i].astype(np.float64)
        tf = protocol_crop(human, predictor.crop_size)
        image = load_image(labels.images_root / str(labels.paths[i]))
        result = predictor.run_on_transforms(image, [tf])
        vertices = result.vertices[0, -1].astype(np.float64)
        embedded = predictor.topology.landmarks_from_vertices(vertices)
        pred.append(definition.points_for_cascade(vertices, result.keypoints[0, -1], embedded))
        targets.append(tf.to_crop(human))
    return {"human_val_nme": float(nme_interocular(np.stack(pred), np.stack(targets)).mean())}


def validate(
    model: CascadeMTCNN, topology: Topology, config: TrainConfig, device: torch.device
) -> dict:
    predictor = Predictor(copy.deepcopy(model).cpu(), topology)
    metrics: dict = {}
    with torch.no_grad():
        if config.val_dir:
            metrics.update(synthetic_val_report(predictor, config.val_dir, config.val_limit))
        if config.aflw_val_dir:
            metrics.update(aflw_val_report(predictor, config.aflw_val_dir, config.val_limit))
        if config.human_val_labels:
            metrics.update(human_val_report(predictor, config.human_val_labels))
    return metrics
