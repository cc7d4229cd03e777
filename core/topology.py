"""The dense mesh topology: template vertices, triangles, UVs and embedded landmark schemes.

The default topology is the MediaPipe canonical face (468 vertices, 898 triangles, Apache-2.0),
built by ``tools/build_topology.py`` from the npm package ``@mediapipe/face_mesh``. Template
vertices are in centimetres in mtface's axes (x right, y down, z toward the viewer); the winding
makes the frontal face's outward normals point to +z.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from mtface.core.geometry import barycentric_points
from mtface.core.resources import resource_path

#: 0-based iBUG-68 indices of the 3DDFA AFLW 21-point protocol: each AFLW point is the mean of
#: these 68-point indices (ears from jaw points 3 and 15, eye centres as eye-contour means, nose
#: 32/31/36, mouth 49 / inner-lip mean / 55, chin 9 -- 1-based in the protocol's description).
#: AFLW order: brows (6), eyes (6: outer, centre, inner per eye), ears (2)... as in AFLW_GT_pts21.
AFLW21_FROM_68: tuple[tuple[int, ...], ...] = (
    (17,),
    (19,),
    (21,),
    (22,),
    (24,),
    (26,),  # brows: right outer/centre/inner, left inner/...
    (36,),
    (36, 37, 38, 39, 40, 41),
    (39,),  # right eye: outer corner, centre, inner corner
    (42,),
    (42, 43, 44, 45, 46, 47),
    (45,),  # left eye: inner corner, centre, outer corner
    (2,),  # right ear (approximated by jaw point 3, 1-based)
    (31,),
    (30,),
    (35,),  # nose: right wing, tip, left wing
    (14,),  # left ear (jaw point 15, 1-based)
    (48,),
    (61, 62, 63, 65, 66, 67),
    (54,),  # mouth: right corner, centre, left corner
    (8,),  # chin
)
#: Indices (into the 21) of the two ear points, which the canonical face has no surface for.
AFLW21_EAR_POINTS: tuple[int, ...] = (12, 16)

#: Index groups of the iBUG-68 scheme for drawing and naming.
IBUG68_GROUPS: dict[str, tuple[int, int]] = {
    "jaw": (0, 17),
    "right_brow": (17, 22),
    "left_brow": (22, 27),
    "nose_bridge": (27, 31),
    "nose_base": (31, 36),
    "right_eye": (36, 42),
    "left_eye": (42, 48),
    "outer_lip": (48, 60),
    "inner_lip": (60, 68),
}
_CLOSED_GROUPS = {"right_eye", "left_eye", "outer_lip", "inner_lip"}


def ibug68_name(index: int) -> str:
    """Human-readable name of a 0-based iBUG-68 landmark, e.g. ``'right_eye 3'``."""
    for name, (start, stop) in IBUG68_GROUPS.items():
        if start <= index < stop:
            return f"{name} {index - start + 1}"
    raise IndexError(f"landmark index {index} outside 0..67")


def ibug68_edges() -> list[tuple[int, int]]:
    """Connectivity lines of the iBUG-68 scheme (0-based index pairs)."""
    edges = []
    for name, (start, stop) in IBUG68_GROUPS.items():
        edges += [(i, i + 1) for i in range(start, stop - 1)]
        if name in _CLOSED_GROUPS:
            edges.append((stop - 1, start))
    return edges


def aflw21_from_68(landmarks: np.ndarray) -> np.ndarray:
    """Map 68-point landmarks (..., 68, D) to the AFLW 21-point scheme (..., 21, D)."""
    return np.stack(
        [landmarks[..., list(group), :].mean(axis=-2) for group in AFLW21_FROM_68], axis=-2
    )


@dataclass(frozen=True)
class Topology:
    """A dense face mesh and the 68-landmark embedding on it.

    vertices (V, 3) template in cm, image axes; triangles (T, 3) int; uv (V, 2) in [0, 1];
    flip_permutation (V,) maps each vertex to its mirror; landmark_triangles (68,) and
    landmark_barycentric (68, 3) embed the iBUG-68 landmarks; procrustes_ids/weights are the
    weighted points of MediaPipe's pose fit.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    uv: np.ndarray
    flip_permutation: np.ndarray
    landmark_triangles: np.ndarray
    landmark_barycentric: np.ndarray
    procrustes_ids: np.ndarray
    procrustes_weights: np.ndarray
    source: str

    @property
    def num_vertices(self) -> int:
        return len(self.vertices)

    @property
    def landmark_flip_permutation(self) -> np.ndarray:
        """Mirror permutation of the 68 iBUG landmarks (0-based)."""
        return IBUG68_FLIP

    @property
    def pose_weights(self) -> np.ndarray:
        """Per-vertex weights (V,) for the Procrustes pose fit (zero outside the 33 points)."""
        w = np.zeros(self.num_vertices)
        w[self.procrustes_ids] = self.procrustes_weights
        return w

    def landmarks_from_vertices(self, vertices: np.ndarray) -> np.ndarray:
        """The 68 embedded landmarks of a mesh. vertices (..., V, 3) -> (..., 68, 3)."""
        return barycentric_points(
            vertices, self.triangles, self.landmark_triangles, self.landmark_barycentric
        )

    @staticmethod
    def load(path: Path | None = None) -> Topology:
        """Load a topology ``.npz`` (default: the bundled MediaPipe canonical face)."""
        return _load_cached(str(path or resource_path("topology", "mediapipe_canonical.npz")))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> Topology:
    try:
        data = np.load(path)
        return Topology(
            vertices=data["vertices"].astype(np.float64),
            triangles=data["triangles"].astype(np.int64),
            uv=data["uv"].astype(np.float64),
            flip_permutation=data["flip_permutation"].astype(np.int64),
            landmark_triangles=data["landmark_triangles"].astype(np.int64),
            landmark_barycentric=data["landmark_barycentric"].astype(np.float64),
            procrustes_ids=data["procrustes_ids"].astype(np.int64),
            procrustes_weights=data["procrustes_weights"].astype(np.float64),
            source=str(data["source"]),
        )
    except (OSError, KeyError, ValueError) as exc:
        raise RuntimeError(f"cannot read the mesh topology {path}: {exc}") from exc


def _ibug68_flip() -> np.ndarray:
    pairs = [(i, 16 - i) for i in range(17)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(27 + i, 27 + i) for i in range(4)]  # nose bridge
    pairs += [(31 + i, 35 - i) for i in range(5)]  # nose base
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48 + i, 54 - i) for i in range(7)]  # outer lip, top
    pairs += [(55 + i, 59 - i) for i in range(5)]  # outer lip, bottom
    pairs += [(60 + i, 64 - i) for i in range(5)]  # inner lip, top
    pairs += [(65, 67), (66, 66)]  # inner lip, bottom
    perm = np.arange(68)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


IBUG68_FLIP = _ibug68_flip()
