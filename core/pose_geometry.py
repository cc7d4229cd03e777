"""Head pose from the reconstructed mesh, in the ``Pose_Para`` frame (docs/adr/0034-*).

The cascade predicts a pose with its regression head and, separately, a dense mesh. The rotation
of the mesh against the template (MediaPipe's weighted Procrustes fit, the teacher's own pose
definition) is a second reading of the same pose that shares the landmarks' accuracy. Its frame
is the template's, which differs from ``Pose_Para``'s (a 3DMM's) by a tilt; :class:`MeshPoseFrame`
holds that tilt, measured on training faces only (core/pose_frame.py), and turns a mesh rotation
into ``Pose_Para`` angles:

    R = Rx(camera_tilt) @ R_mesh @ Rx(head_tilt)

``head_tilt`` turns the head frame about its own left-right axis (a different "straight ahead"
for the face), ``camera_tilt`` about the camera's horizontal axis (the pitch offset ADR 14 put
on the regression head). Both are rotations about an x axis, so the mapping commutes with the
mirror (x -> -x): a mirrored face gets the mirrored pose, as ``--flip-test`` assumes.

Everything is numpy on one face; angles in degrees, R = Rx(pitch) Ry(yaw) Rz(roll).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mtface.core.geometry import (
    angles_from_rotation,
    image_to_model_axes,
    rotation_from_angles,
    similarity_fit,
)
from mtface.core.topology import Topology

#: The angles of a pose, in the order of every (..., 3) array here.
ANGLES = ("pitch", "yaw", "roll")


def rotation_x(degrees: float) -> np.ndarray:
    """Rx of ``rotation_from_angles`` (3, 3): the pitch part alone."""
    return rotation_from_angles(degrees, 0.0, 0.0)


def mesh_rotation(vertices: np.ndarray, topology: Topology) -> np.ndarray:
    """Rotation (3, 3) of a reconstructed mesh against the topology's template, model axes
    (x right, y up, z toward the viewer): vertices ~ s R template + t, weighted by MediaPipe's
    Procrustes weights. vertices (V, 3) image pixels (x right, y down, z toward the viewer).
    Raises ValueError on a wrong shape or non-finite vertices."""
    vertices = np.asarray(vertices, np.float64)
    if vertices.shape != topology.vertices.shape or not np.isfinite(vertices).all():
        raise ValueError(
            f"expected {topology.vertices.shape} finite vertices, got {vertices.shape}"
        )
    weights = topology.pose_weights
    used = np.nonzero(weights > 0)[0]  # the other vertices weigh nothing in the fit
    _, rotation, _ = similarity_fit(
        image_to_model_axes(topology.vertices[used].astype(np.float64)),
        image_to_model_axes(vertices[used]),
        weights[used],
    )
    return rotation


@dataclass(frozen=True)
class MeshPoseFrame:
    """The template frame against ``Pose_Para``'s: R = Rx(camera_tilt) R_mesh Rx(head_tilt).

    head_tilt_deg, camera_tilt_deg in degrees; faces: how many training faces measured them."""

    head_tilt_deg: float = 0.0
    camera_tilt_deg: float = 0.0
    faces: int = 0

    def rotation(self, mesh_rotation_: np.ndarray) -> np.ndarray:
        """(3, 3) mesh rotation (or (N, 3, 3)) -> ``Pose_Para`` rotation(s), same shape."""
        return rotation_x(self.camera_tilt_deg) @ mesh_rotation_ @ rotation_x(self.head_tilt_deg)

    def angles(self, mesh_rotation_: np.ndarray) -> np.ndarray:
        """(3, 3) mesh rotation -> (3,) pitch, yaw, roll in degrees (``Pose_Para``)."""
        return np.array(angles_from_rotation(self.rotation(mesh_rotation_)))

    def to_dict(self) -> dict[str, float | int]:
        """The JSON form kept in a model file's ``pose_calibration`` metadata."""
        return {
            "head_tilt_deg": float(self.head_tilt_deg),
            "camera_tilt_deg": float(self.camera_tilt_deg),
            "faces": int(self.faces),
        }

    @staticmethod
    def from_dict(values: dict) -> MeshPoseFrame:
        """Inverse of :meth:`to_dict`; ValueError unless both tilts are finite numbers."""
        try:
            head, camera = float(values["head_tilt_deg"]), float(values["camera_tilt_deg"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a mesh pose frame: {values!r}") from exc
        if not (np.isfinite(head) and np.isfinite(camera)):
            raise ValueError(f"mesh pose frame tilts must be finite, got {head}, {camera}")
        return MeshPoseFrame(head, camera, int(values.get("faces", 0)))


def pose_from_mesh(
    vertices: np.ndarray, topology: Topology, frame: MeshPoseFrame | None = None
) -> np.ndarray:
    """Pitch, yaw, roll (3,) in degrees of a reconstructed mesh (V, 3) image pixels, in the
    ``Pose_Para`` frame given by ``frame`` (None: the template's own frame)."""
    return (frame or MeshPoseFrame()).angles(mesh_rotation(vertices, topology))


def angles_of_rotations(rotations: np.ndarray) -> np.ndarray:
    """:func:`angles_from_rotation` for many: (N, 3, 3) -> (N, 3) degrees (at the exact gimbal
    lock, |yaw| = 90, the split of pitch and roll is arbitrary)."""
    r = np.asarray(rotations, np.float64)
    yaw = np.arcsin(np.clip(-r[:, 0, 2], -1.0, 1.0))
    pitch = np.arctan2(r[:, 1, 2], r[:, 2, 2])
    roll = np.arctan2(r[:, 0, 1], r[:, 0, 0])
    return np.rad2deg(np.stack([pitch, yaw, roll], axis=1))


def angle_errors(rotations: np.ndarray, truth_deg: np.ndarray) -> np.ndarray:
    """(N, 3) predicted - true Euler angles (degrees) for rotations (N, 3, 3) against
    ``truth_deg`` (N, 3)."""
    return angles_of_rotations(rotations) - np.asarray(truth_deg, np.float64)


def fit_mesh_pose_frame(
    mesh_rotations: np.ndarray,
    truth_deg: np.ndarray,
    search_deg: float = 15.0,
    step_deg: float = 0.5,
) -> MeshPoseFrame:
    """The tilts that minimise the mean absolute angle error (pitch, yaw and roll alike) of
    ``mesh_rotations`` (N, 3, 3) against ``truth_deg`` (N, 3): a grid over
    [-search_deg, search_deg]^2 at ``step_deg``, then the same grid ten times finer around the
    best. Use training faces only. ValueError on mismatched or empty inputs."""
    mesh_rotations = np.asarray(mesh_rotations, np.float64)
    truth_deg = np.asarray(truth_deg, np.float64)
    if mesh_rotations.ndim != 3 or mesh_rotations.shape[1:] != (3, 3):
        raise ValueError(f"expected (N, 3, 3) rotations, got {mesh_rotations.shape}")
    if len(mesh_rotations) == 0 or truth_deg.shape != (len(mesh_rotations), 3):
        raise ValueError(f"expected (N, 3) true angles for N >= 1, got {truth_deg.shape}")

    def cost(head: float, camera: float) -> float:
        frame = MeshPoseFrame(head, camera)
        return float(np.abs(angle_errors(frame.rotation(mesh_rotations), truth_deg)).mean())

    centre, half, step = (0.0, 0.0), search_deg, step_deg
    for _ in range(2):
        values = [
            (cost(h, c), h, c)
            for h in np.arange(centre[0] - half, centre[0] + half + 1e-9, step)
            for c in np.arange(centre[1] - half, centre[1] + half + 1e-9, step)
        ]
        _, head, camera = min(values)
        centre, half, step = (float(head), float(camera)), step, step / 10.0
    return MeshPoseFrame(round(centre[0], 3), round(centre[1], 3), len(mesh_rotations))


def mesh_pose_frame_of(meta: Mapping) -> MeshPoseFrame | None:
    """The mesh pose frame a model file's metadata holds (``pose_calibration.mesh_frame``), or
    None when it holds none (the regression head's pose is reported then). ValueError when
    the entry is present but malformed."""
    calibration = meta.get("pose_calibration")
    if not isinstance(calibration, Mapping) or calibration.get("mesh_frame") is None:
        return None
    return MeshPoseFrame.from_dict(calibration["mesh_frame"])


def pose_turned_on_screen(pose_deg: np.ndarray, angle: float) -> np.ndarray:
    """A pose (pitch, yaw, roll) in degrees read in a crop turned by ``angle`` radians
    (``CropTransform.angle``) -> the same head's pose in the image: the crop's rotation about
    the viewing axis composed on the camera side. (3,) -> (3,); ``angle`` 0 returns it as is."""
    pose = np.asarray(pose_deg, np.float64)
    if angle == 0.0:
        return pose
    turn = rotation_from_angles(0.0, 0.0, float(np.rad2deg(angle)))
    return np.array(angles_from_rotation(turn @ rotation_from_angles(*pose)))
