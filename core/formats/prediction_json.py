"""The JSON written by ``mtface predict`` (schema ``mtface-prediction/1``, docs/formats.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtface.core.formats.atomic import atomic_write_json, dumps_strict_json
from mtface.core.geometry import yaw_bin
from mtface.core.types import Face, Prediction

SCHEMA = "mtface-prediction/1"
CONVENTIONS = {
    "coordinates": "image pixels, 0-based pixel centres; x right, y down, z toward the viewer "
    "in the same pixel scale (origin of z: the face's centroid)",
    "landmarks": "iBUG-68; per face, 'landmark_definition' says which: '3d' = points fixed "
    "to the 3D head (AFLW2000-3D pt3d_68 convention: the network's keypoints, moved by the "
    "model's 3d offsets when the face's 'model_parts' lists offsets3d; jaw may be hidden), "
    "'2d' = as people annotate photos (300-W: jaw on the visible outline; refined on the "
    "photo when the face's 'model_parts' lists refiner2d); 2D = (x, y)",
    "visible": "what a person sees: no part of the reconstructed face mesh in front of the "
    "point (a depth test); jaw points on the visible outline count as seen",
    "confidence": "how much to trust the face, in (0, 1]: image-vs-mirror and stage-1-vs-last "
    "agreement (0.5 = a typical face; low = likely wrong); the value annotation files and the "
    "studio's review queue use",
    "pose": "degrees; R = Rx(pitch) Ry(yaw) Rz(roll) as AFLW2000-3D / 300W-LP Pose_Para",
    "model": "the model file that made the faces: its name, the SHA-256 of the file and the "
    "parts it holds (cascade, refiner2d, offsets3d, pose_calibration); per face, "
    "'model_parts' lists the parts applied to it (the refiner to '2d' faces only, the 3d "
    "offsets to '3d' faces only)",
}


def face_to_dict(
    face: Face, mesh_file: str | None = None, model_parts: list[str] | None = None
) -> dict:
    """One face of the JSON; ``model_parts``: the model's parts applied to it."""
    return {
        "box": [round(float(v), 2) for v in face.box.as_tuple()],
        "score": round(float(face.box.score), 4),
        "confidence": None if face.confidence is None else round(float(face.confidence), 4),
        "landmarks": np.round(face.landmarks.astype(float), 3).tolist(),
        "landmark_definition": face.convention,
        "visible": [bool(v) for v in face.visible],
        "pose": {k: round(v, 3) for k, v in face.pose.as_dict().items()},
        "yaw_bin": yaw_bin(face.pose.yaw),
        "mesh": mesh_file,
        "model_parts": model_parts,
    }


def prediction_to_dict(
    prediction: Prediction,
    image_name: str,
    mesh_files: list[str | None] | None = None,
    model: dict | None = None,
) -> dict:
    mesh_files = mesh_files or [None] * len(prediction.faces)
    t = prediction.timings
    return {
        "schema": SCHEMA,
        "image": image_name,
        "image_size": {"height": prediction.image_size[0], "width": prediction.image_size[1]},
        "conventions": CONVENTIONS,
        "model": model or {},
        "faces": [
            face_to_dict(f, m, _applied(model, f.convention))
            for f, m in zip(prediction.faces, mesh_files)
        ],
        "timings_ms": {
            "detect": round(t.detect_ms, 2),
            "cascade": round(sum(t.stage_ms), 2),
            "total": round(t.total_ms, 2),
        },
    }


def _applied(model: dict | None, convention: str) -> list[str] | None:
    """The parts of ``model`` (its ``parts``) applied to a face of ``convention``."""
    from mtface.core.model_file import applied_parts

    if not model or "parts" not in model:
        return None
    return list(applied_parts(model["parts"], convention))


def prediction_json_text(payload: dict) -> str:
    """The file's text; raises ValueError when the payload holds NaN or Infinity."""
    return dumps_strict_json(payload, indent=1)


def write_prediction_json(path: Path, payload: dict) -> Path:
    return atomic_write_json(path, payload, indent=1)
