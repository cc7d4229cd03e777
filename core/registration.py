"""Registering one face surface onto another (numpy, scipy and trimesh).

Used to embed the 68 landmarks on the canonical mesh (``tools/build_topology.py``) and to place
the canonical mesh on the Basel Face Model's dense grid (``core/data/threedmm.py``): a similarity
fit on anchor points both surfaces name, a thin-plate-spline warp that takes every anchor exactly
onto its partner, then the closest surface point.
"""

from __future__ import annotations

import numpy as np
import trimesh

from mtface.core.geometry import similarity_fit

# iBUG-68 (0-based) -> MediaPipe vertex for points whose identity is unambiguous on both models:
# the anchors of the similarity fit and of the thin-plate-spline warp of the registration.
SEED_CORRESPONDENCES = {
    36: 33,
    39: 133,
    42: 362,
    45: 263,  # eye corners
    30: 1,  # nose tip
    27: 168,  # nose bridge between the eyes
    33: 2,  # subnasale
    48: 61,
    54: 291,  # mouth corners
    8: 152,  # chin
    51: 0,
    57: 17,  # outer lip, top and bottom centres
    62: 13,
    66: 14,  # inner lip, top and bottom centres
}

#: Query-triangle pairs per batch of :func:`closest_points_on_mesh` (about 0.3 GB at the peak).
_PAIRS = 1 << 20


def anchor_warp(
    points: np.ndarray, source_anchors: np.ndarray, target_anchors: np.ndarray
) -> np.ndarray:
    """Carry ``points`` (N, 3) from the source surface's space to the target's.

    A similarity fit of the anchors (K, 3) followed by a 3D thin-plate-spline warp that takes
    every fitted source anchor exactly onto its target anchor; the other points follow smoothly.
    """
    from scipy.interpolate import RBFInterpolator

    scale, rot, shift = similarity_fit(source_anchors, target_anchors)
    aligned_anchors = scale * source_anchors @ rot.T + shift
    warp = RBFInterpolator(
        aligned_anchors, target_anchors - aligned_anchors, kernel="thin_plate_spline", degree=1
    )
    aligned = scale * points @ rot.T + shift
    return aligned + warp(aligned)


def closest_points_on_mesh(
    vertices: np.ndarray, triangles: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest surface point of each query point.

    vertices (V, 3), triangles (T, 3) int, points (N, 3) -> (closest points (N, 3) in the
    vertices' units, barycentrics (N, 3) of those points in their triangles, triangle ids (N,)).

    Every triangle is tried with trimesh's closest point on a triangle (Ericson's region test,
    "Real-Time Collision Detection" 5.1.5) on all query-triangle pairs, in batches of at most
    ``_PAIRS`` pairs so memory stays bounded, and the nearest is kept; the barycentrics are
    trimesh's ``points_to_barycentric`` of that point. (``trimesh.proximity.closest_point`` gives
    the same points but prunes the triangles with an R-tree, and rtree is not a dependency.)
    Where the closest point lies on an edge or vertex shared by several triangles, any of them
    may be returned: the point is the same. Triangles of zero area are skipped (barycentrics
    are undefined in them); ValueError when no triangle is left or ``points`` is not (N, 3).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), not shape {points.shape}")
    corners = vertices[np.asarray(triangles)]  # (T, 3, 3)
    doubled_area = np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    kept = np.flatnonzero(doubled_area > 0)
    if len(kept) == 0:
        raise ValueError("the mesh has no triangle of non-zero area")
    corners = corners[kept]
    step = max(1, _PAIRS // len(corners))
    best = np.empty(len(points), dtype=np.int64)
    closest = np.empty_like(points)
    for i in range(0, len(points), step):
        chunk = points[i : i + step]
        pairs = trimesh.triangles.closest_point(
            np.broadcast_to(corners, (len(chunk), *corners.shape)).reshape(-1, 3, 3),
            np.repeat(chunk, len(corners), axis=0),
        ).reshape(len(chunk), len(corners), 3)
        nearest = ((pairs - chunk[:, None]) ** 2).sum(-1).argmin(axis=1)
        best[i : i + step] = nearest
        closest[i : i + step] = pairs[np.arange(len(chunk)), nearest]
    barycentric = trimesh.triangles.points_to_barycentric(corners[best], closest)
    return closest, barycentric, kept[best]
