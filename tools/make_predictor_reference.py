"""Recompute tests/core/data/predictor_sample_reference.npz for the shipped weights.

The reference pins the predictor's output on the bundled sample (a landmark-box crop refined
from its landmarks, a flip-tested pass, a pass from given corrected landmarks) so that a
refactoring that changes a number is caught (tests/core/test_crop_coords.py). Run it once after
shipping new weights (tools/export_default_model.py) or new files fitted for them (the 3d offsets
of `mtface data fit-offsets`, the pose calibration), never to make a failing test pass
otherwise.

    python tools/make_predictor_reference.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtface.core.imageio import load_image
from mtface.core.predictor import Predictor
from mtface.core.resources import resource_path
from mtface.core.types import Face, FaceBox
from mtface.core.weights import sha256_of

OUT = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "core"
    / "data"
    / ("predictor_sample_reference.npz")
)


def sample_faces(
    given: np.ndarray | None = None, visible: np.ndarray | None = None
) -> dict[str, Face]:
    """The three pinned results on the bundled sample: 'refined' (a landmark box, re-cropped
    from its landmarks), 'flip' (flip test, one pass) and 'corrected' (stage 2 from ``given``
    landmarks (68, 2) with ``visible`` (68,); default: the refined ones moved by (1.5, -1))."""
    image = load_image(resource_path("samples", "astronaut.jpg"))
    box = FaceBox(177.0, 84.5, 271.0, 175.0)
    refined = (
        Predictor.from_weights()
        .predict(image, boxes=[box], box_kind="landmarks", refine=True)
        .faces[0]
    )
    flip = (
        Predictor.from_weights(flip_test=True)
        .predict(image, boxes=[box], box_kind="landmarks", refine=False)
        .faces[0]
    )
    given = refined.landmarks[:, :2] + np.array([1.5, -1.0]) if given is None else given
    visible = refined.stages[-1].visible if visible is None else visible  # as stored
    corrected = Predictor.from_weights().refine_from_landmarks(image, given, visible, box)
    return {"refined": refined, "flip": flip, "corrected": corrected}


def main() -> None:
    faces = sample_faces()
    arrays: dict[str, np.ndarray] = {
        "given_landmarks": faces["refined"].landmarks[:, :2] + np.array([1.5, -1.0])
    }
    for name, face in faces.items():
        arrays[f"{name}_landmarks"] = face.landmarks
        arrays[f"{name}_stage1_landmarks"] = face.stages[0].landmarks
        arrays[f"{name}_vertices"] = face.vertices
        arrays[f"{name}_visible"] = face.stages[-1].visible  # the cascade's own (ADR 28)
        arrays[f"{name}_pose"] = np.array([face.pose.pitch, face.pose.yaw, face.pose.roll])
    arrays["weights_sha256"] = np.array(sha256_of(resource_path("models", "mtface_default.pt")))
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
