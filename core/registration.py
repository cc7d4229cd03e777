"""Registering one face surface onto another (pure numpy / scipy).

Used to embed the 68 landmarks on the canonical mesh (``tools/build_topology.py``) and to place
the canonical mesh on the Basel Face Model's dense grid (``core/data/threedmm.py``): a similarity
fit on anchor points both surfaces name, a thin-plate-spline warp that takes every anchor exactly
onto its partner, then the closest surface point.
"""

from __future__ import annotations

import numpy as np

from mtface.core.geometry import similarity_fit

# iBUG-68 (0-based) -> MediaPipe vertex for points whose identity is unambiguous on both models:
# the anchors of the similarity fit and of the thin-plate-spline warp of the registration.
SEED_CORRESPONDENCES = {
    36: 33, 39: 133, 42: 362, 45: 263,  # eye corners
    30: 1,  # nose tip
    27: 168,  # nose bridge between the eyes
    33: 2,  # subnasale
    48: 61, 54: 291,  # mouth corners
    8: 152,  # chin
    51: 0, 57: 17,  # outer lip, top and bottom centres
    62: 13, 66: 14,  # inner lip, top and bottom centres
}

_CHUNK = 32


def anchor_warp(points: np.ndarray, source_anchors: np.ndarray, target_anchors: np.ndarray
                ) -> np.ndarray:
    """Carry ``points`` (N, 3) from the source surface's space to the target's.

    A similarity fit of the anchors (K, 3) followed by a 3D thin-plate-spline warp that takes
    every fitted source anchor exactly onto its target anchor; the other points follow smoothly.
    """
    from scipy.interpolate import RBFInterpolator  # noqa: PLC0415

    scale, rot, shift = similarity_fit(source_anchors, target_anchors)
    aligned_anchors = scale * source_anchors @ rot.T + shift
    warp = RBFInterpolator(aligned_anchors, target_anchors - aligned_anchors,
                           kernel="thin_plate_spline", degree=1)
    aligned = scale * points @ rot.T + shift
    return aligned + warp(aligned)


def closest_points_on_mesh(vertices: np.ndarray, triangles: np.ndarray, points: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest surface point of each query point: (points (N,3), barycentrics (N,3), tri ids (N,)).

    Brute force over all triangles with the barycentric region test of Ericson's
    "Real-Time Collision Detection" (5.1.5), in chunks of queries so memory stays bounded.
    """
    if len(points) > _CHUNK:
        parts = [closest_points_on_mesh(vertices, triangles, points[i:i + _CHUNK])
                 for i in range(0, len(points), _CHUNK)]
        return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]
    a, b, c = (vertices[triangles[:, k]][None] for k in range(3))  # (1, T, 3)
    p = points[:, None, :]  # (N, 1, 3)
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    eps = 1e-12
    # interior solution, then overwrite by the edge and vertex regions
    denom = va + vb + vc + eps
    v, w = vb / denom, vc / denom
    u = 1.0 - v - w
    bary = np.stack([u, v, w], -1)
    ones = np.ones_like(d1)
    zeros = np.zeros_like(d1)

    def put(mask: np.ndarray, values: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        stacked = np.stack(values, -1)
        bary[mask] = stacked[mask]

    t_ab = d1 / (d1 - d3 + eps)
    put((vc <= 0) & (d1 >= 0) & (d3 <= 0), (1 - t_ab, t_ab, zeros))
    t_ac = d2 / (d2 - d6 + eps)
    put((vb <= 0) & (d2 >= 0) & (d6 <= 0), (1 - t_ac, zeros, t_ac))
    t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6) + eps)
    put((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), (zeros, 1 - t_bc, t_bc))
    put((d1 <= 0) & (d2 <= 0), (ones, zeros, zeros))
    put((d3 >= 0) & (d4 <= d3), (zeros, ones, zeros))
    put((d6 >= 0) & (d5 <= d6), (zeros, zeros, ones))
    closest = bary[..., :1] * a + bary[..., 1:2] * b + bary[..., 2:] * c  # (N, T, 3)
    dist = np.linalg.norm(closest - p, axis=-1)
    best = dist.argmin(axis=1)
    rows = np.arange(len(points))
    return closest[rows, best], bary[rows, best], best
