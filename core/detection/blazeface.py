"""BlazeFace (MediaPipe short-range face detector) in plain PyTorch.

The network runs from a converted graph (``resources/detector/blazeface_short.pt``, converted
from MediaPipe's Apache-2.0 ``face_detection_short_range.tflite`` by tools/convert_blazeface.py).
Anchors, box decoding and weighted non-maximum suppression follow MediaPipe's
``face_detection_short_range`` graph: 896 SSD anchors on 16x16 (2 per cell) and 8x8 (6 per cell)
grids, 128x128 input scaled to [-1, 1], letterboxed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from mtface.core.detection.tflite_graph import TFLiteGraph
from mtface.core.resources import resource_path
from mtface.core.types import FaceBox
from mtface.core.weights import WeightsError, verify_checksum


def ssd_anchors(
    input_size: int = 128, strides: tuple[int, ...] = (8, 16, 16, 16), offset: float = 0.5
) -> np.ndarray:
    """Anchor centres (A, 2) in [0, 1] for MediaPipe's fixed-size SSD anchors.

    Consecutive layers with the same stride share one grid (2 anchors per layer there).
    """
    anchors = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        repeats = 0
        while layer < len(strides) and strides[layer] == stride:
            repeats += 2  # aspect ratio 1 plus the interpolated scale
            layer += 1
        cells = int(np.ceil(input_size / stride))
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + offset) / cells, (ys + offset) / cells], -1).reshape(-1, 2)
        anchors.append(np.repeat(centres, repeats, axis=0))
    return np.concatenate(anchors).astype(np.float32)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float = 0.3
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe's weighted NMS: overlapping detections are averaged, weighted by score.

    boxes (N, 4) x0 y0 x1 y1, scores (N,), keypoints (N, K, 2) -> [(box, score, keypoints)].
    """
    order = np.argsort(-scores)
    remaining = list(order)
    results = []
    while remaining:
        best = remaining[0]
        b = boxes[remaining]
        x0 = np.maximum(boxes[best, 0], b[:, 0])
        y0 = np.maximum(boxes[best, 1], b[:, 1])
        x1 = np.minimum(boxes[best, 2], b[:, 2])
        y1 = np.minimum(boxes[best, 3], b[:, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        area_best = (boxes[best, 2] - boxes[best, 0]) * (boxes[best, 3] - boxes[best, 1])
        iou = inter / np.maximum(area + area_best - inter, 1e-12)
        members = [remaining[i] for i in np.nonzero(iou > iou_threshold)[0]]
        w = scores[members][:, None]
        box = (boxes[members] * w).sum(0) / w.sum()
        kps = (keypoints[members] * w[:, :, None]).sum(0) / w.sum()
        results.append((box, float(scores[best]), kps))
        remaining = [r for r in remaining if r not in set(members)]
    return results


class BlazeFaceDetector:
    """detect(image RGB uint8 (H, W, 3)) -> list[FaceBox] in image pixels, best first."""

    input_size = 128

    def __init__(
        self,
        graph_path: Path | None = None,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.3,
    ) -> None:
        path = graph_path or resource_path("detector", "blazeface_short.pt")
        verify_checksum(path)
        try:
            self.net = TFLiteGraph.load(path).eval()
        except Exception as exc:
            raise WeightsError(f"cannot load the face detector {path}: {exc}") from exc
        self.anchors = ssd_anchors(self.input_size)
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        h, w = image.shape[:2]
        scale = self.input_size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((self.input_size, self.input_size, 3), np.uint8)
        top, left = (self.input_size - nh) // 2, (self.input_size - nw) // 2
        canvas[top : top + nh, left : left + nw] = resized
        return canvas, scale, left, top

    @torch.inference_mode()
    def detect(self, image: np.ndarray) -> list[FaceBox]:
        canvas, scale, left, top = self._letterbox(image)
        x = torch.from_numpy(canvas).float().div_(127.5).sub_(1.0)[None]
        raw_boxes, raw_scores = (t[0].numpy() for t in self.net(x))
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[:, 0].astype(np.float64), -100, 100)))
        keep = scores >= self.score_threshold
        if not keep.any():
            return []
        raw, anchors, scores = raw_boxes[keep], self.anchors[keep], scores[keep]
        size = float(self.input_size)
        cx = raw[:, 0] / size + anchors[:, 0]
        cy = raw[:, 1] / size + anchors[:, 1]
        bw, bh = raw[:, 2] / size, raw[:, 3] / size
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
        kps = raw[:, 4:16].reshape(-1, 6, 2) / size + anchors[:, None, :]
        faces = []
        for box, score, kp in weighted_nms(boxes, scores, kps, self.iou_threshold):
            # model units [0, 1] of the letterboxed square -> image pixels
            px = (box * size - np.array([left, top, left, top])) / scale
            kpx = (kp * size - np.array([left, top])) / scale
            faces.append(FaceBox(*map(float, px), score=score, keypoints=kpx.astype(np.float32)))
        return faces
