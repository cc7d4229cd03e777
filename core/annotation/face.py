"""One face being annotated: the model's prediction kept apart from a person's corrections.

A plain data type shared by the annotation formats (core/formats/annotations.py) and the editing
session (core/annotation/session.py); it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtface.core.confidence import face_confidence
from mtface.core.types import Face, FaceBox, Pose


@dataclass
class FaceAnnotation:
    """One face being annotated. landmarks (68, 2) image pixels; visible (68,) bool; edited
    (68,) bool: the points a person placed. ``face`` is the model's full result (mesh, pose)
    when there is one. ``definition``: the landmark definition of ``landmarks`` ("3d", "2d",
    "mixed" when a person's points of one were kept beside the other's; None: unknown, a file
    from another tool); ``predicted_definition`` that of ``predicted_landmarks``; ``model`` the
    proposing model's identity (name, hash) when known (files: docs/formats.md)."""

    landmarks: np.ndarray
    visible: np.ndarray
    predicted_landmarks: np.ndarray
    predicted_visible: np.ndarray
    edited: np.ndarray
    box: FaceBox
    face: Face | None = None
    pose: Pose | None = None
    source: str = "prediction"
    confidence: float | None = None
    #: True when a person drew the face's box (A + box in the studio: a face the detector
    #: missed); the model then predicted the points inside that box. The annotation files keep
    #: it (``source`` only says where the object was last read from).
    drawn_by_person: bool = False
    definition: str | None = None
    predicted_definition: str | None = None
    model: dict | None = None

    @staticmethod
    def from_face(
        face: Face, source: str = "prediction", model: dict | None = None
    ) -> FaceAnnotation:
        """The model's face as an annotation. ``source`` "box": a person drew its box, so the
        face is theirs (``drawn_by_person``, every point edited)."""
        lm = face.landmarks[:, :2].astype(np.float64)
        by_person = source == "box"
        return FaceAnnotation(
            lm.copy(),
            face.visible.copy(),
            lm.copy(),
            face.visible.copy(),
            np.full(len(lm), by_person),
            face.box,
            face,
            face.pose,
            source,
            face_confidence(face),
            by_person,
            face.convention,
            face.convention,
            dict(model) if model else None,
        )

    @staticmethod
    def from_points(
        points: np.ndarray,
        visible: np.ndarray | None = None,
        source: str = "file",
        pose: Pose | None = None,
    ) -> FaceAnnotation:
        pts = np.asarray(points, dtype=np.float64)[:, :2]
        vis = np.ones(len(pts), bool) if visible is None else np.asarray(visible, bool)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        return FaceAnnotation(
            pts.copy(),
            vis.copy(),
            pts.copy(),
            vis.copy(),
            np.zeros(len(pts), bool),
            FaceBox(x0, y0, x1, y1, 1.0),
            None,
            pose,
            source,
        )
