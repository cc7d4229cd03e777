"""Face detectors: BlazeFace (bundled), YuNet (the ``yuface`` wheel) and their chain."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from mtface.core.types import FaceBox


class Detector(Protocol):
    """What the predictor needs of a face detector: RGB uint8 (H, W, 3) -> boxes in image
    pixels, best first (BlazeFaceDetector, YuNetDetector, FallbackDetector, or a user's)."""

    def detect(self, image: np.ndarray) -> list[FaceBox]: ...
