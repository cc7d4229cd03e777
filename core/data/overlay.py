"""Removal of annotations drawn into photos.

The LFW copy in ../shared/data has every photo marked with a green face box, green landmark dots
and a digit (a visualisation baked into the JPEGs). Training on them would teach a network to
look for green dots, so the data engine finds the saturated-green strokes and inpaints them
before the teacher or the synthesis sees the photo (docs/adr/0003-lfw-overlays.md).
"""

from __future__ import annotations

import cv2
import numpy as np


def drawn_green_mask(image: np.ndarray, dilate: int = 2) -> np.ndarray:
    """Mask (H, W) uint8 {0, 255} of saturated green strokes in an RGB uint8 image."""
    rgb = image.astype(np.int16)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    greenness = g - np.maximum(r, b)  # > 0 only where green dominates
    strokes = (g > 70) & (greenness > 40)
    # small dots on skin are blended by JPEG: find them as local peaks of greenness
    local = cv2.medianBlur(np.clip(greenness + 128, 0, 255).astype(np.uint8), 7).astype(np.int16)
    dots = (greenness + 128 - local > 22) & (greenness > -25)
    strokes = strokes.astype(np.uint8) * 255
    dots = dots.astype(np.uint8) * 255
    if dilate:
        strokes = cv2.dilate(strokes, np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8))
        dots = cv2.dilate(dots, np.ones((2 * dilate - 1, 2 * dilate - 1), np.uint8))
    return np.maximum(strokes, dots)


def remove_drawn_overlay(image: np.ndarray) -> np.ndarray:
    """Inpaint green drawn annotations; RGB uint8 (H, W, 3) -> same shape. Unmarked photos come
    back unchanged."""
    mask = drawn_green_mask(image)
    if not mask.any():
        return image
    return cv2.inpaint(image, mask, 2, cv2.INPAINT_TELEA)
