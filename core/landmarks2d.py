"""The 2D (human-annotation) definition of the 68 landmarks on the dense mesh.

mtface has two 68-point definitions on the same reconstructed mesh (docs/adr/0008):

* **3d** (the method's, the default): fixed points on the surface (``Topology.landmarks_from_
  vertices``), the AFLW2000-3D ``pt3d_68`` convention. Jaw points may be self-occluded.
* **2d**: where people put the points in 2D photos (the 300-W convention). Inner points are
  fixed affine combinations of a few nearby vertices, fitted on human labels; the 16 contour
  points (jaw, chin excluded) *march* to the silhouette as in the 300W-LP / 3DDFA papers: each
  slides along a horizontal band of vertices on its side of the face and takes the (soft)
  extreme one along the face's horizontal image axis, then a small offset fitted on human labels
  is added (in units of the face size, in the face's image frame).

Everything here is numpy on one face at a time: vertices (V, 3) in image pixels (x right, y down,
z toward the viewer) -> points (68, 2) in image pixels.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mtface.core.resources import resource_path

if TYPE_CHECKING:
    from mtface.core.topology import Topology

#: Landmarks that march to the silhouette: the jaw outline without the chin (0-based iBUG-68).
CONTOUR_POINTS: tuple[int, ...] = tuple(range(0, 8)) + tuple(range(9, 17))
#: MediaPipe vertices of the two outer eye corners: their difference gives the face's
#: horizontal axis in the image (robust to yaw, follows roll).
EYE_CORNERS: tuple[int, int] = (33, 263)
#: Softness of the silhouette choice, as a fraction of the face size.
MARCH_TEMPERATURE = 0.01


@dataclass(frozen=True)
class Landmarks2D:
    """The 2D definition. vertex_ids (68, K) int and weights (68, K) (rows sum to 1) give every
    landmark as an affine combination of vertices (used for the non-contour points);
    candidates (16, M) int, -1 padded, are the contour points' vertex bands; sides (16,) are -1
    for bands on the image's left of a frontal face (the subject's right) and +1 otherwise;
    offsets (16, 2) are added to the marched points, in face sizes along (axis, normal)."""

    vertex_ids: np.ndarray
    weights: np.ndarray
    candidates: np.ndarray
    sides: np.ndarray
    offsets: np.ndarray
    source: str

    def points(self, vertices: np.ndarray) -> np.ndarray:
        """vertices (V, 3) image pixels -> the 68 2D-convention landmarks (68, 2)."""
        xy = np.asarray(vertices, dtype=np.float64)[:, :2]
        out = np.einsum("lk,lkd->ld", self.weights, xy[self.vertex_ids])
        axis, normal, size = face_frame(xy)
        for c, landmark in enumerate(CONTOUR_POINTS):
            ids = self.candidates[c][self.candidates[c] >= 0]
            along = (xy[ids] - xy[ids].mean(0)) @ axis * self.sides[c]
            w = np.exp((along - along.max()) / (MARCH_TEMPERATURE * size))
            point = (w[:, None] * xy[ids]).sum(0) / w.sum()
            out[landmark] = point + size * (self.offsets[c, 0] * axis + self.offsets[c, 1] * normal)
        return out

    def points_for_cascade(
        self, vertices: np.ndarray, keypoints: np.ndarray, embedded: np.ndarray
    ) -> np.ndarray:
        """The 2D landmarks of a cascade output: the contour marches on the mesh; every other
        point is the network's own 3D keypoint moved by the mesh's offset between the two
        definitions (the keypoint head is more precise than the dense shape it feeds).
        vertices (V, 3); keypoints (68, 3) the keypoint head; embedded (68, 3) the 3D
        definition on ``vertices`` -> (68, 2), all image pixels."""
        out = self.points(vertices)
        inner = np.setdiff1d(np.arange(68), CONTOUR_POINTS)
        out[inner] = keypoints[inner, :2] + (out[inner] - embedded[inner, :2])
        return out

    def save(self, path: Path) -> None:
        from mtface.core.formats.atomic import atomic_write_bytes

        buffer = io.BytesIO()
        np.savez(
            buffer,
            vertex_ids=self.vertex_ids,
            weights=self.weights,
            candidates=self.candidates,
            sides=self.sides,
            offsets=self.offsets,
            source=np.array(self.source),
        )
        atomic_write_bytes(Path(path), buffer.getvalue())

    @staticmethod
    def load(path: Path | None = None) -> Landmarks2D:
        """The bundled definition (``resources/topology/landmarks_2d.npz``) or ``path``."""
        return _load_cached(str(path or resource_path("topology", "landmarks_2d.npz")))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> Landmarks2D:
    try:
        with np.load(path) as data:
            return Landmarks2D(
                data["vertex_ids"].astype(np.int64),
                data["weights"].astype(np.float64),
                data["candidates"].astype(np.int64),
                data["sides"].astype(np.float64),
                data["offsets"].astype(np.float64),
                str(data["source"]),
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RuntimeError(f"cannot read the 2D landmark definition {path}: {exc}") from exc


def face_frame(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The face's image frame from its mesh xy (V, 2): unit horizontal axis (from the subject's
    right eye corner to the left one), unit normal (pointing down the face) and the face size
    sqrt(w * h) of the mesh's box, in pixels."""
    axis = xy[EYE_CORNERS[1]] - xy[EYE_CORNERS[0]]
    axis = axis / max(float(np.linalg.norm(axis)), 1e-9)
    normal = np.array([-axis[1], axis[0]])
    w, h = xy.max(0) - xy.min(0)
    return axis, normal, float(np.sqrt(max(w * h, 1e-9)))


def contour_bands(template: np.ndarray, jaw_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex bands of the contour points on the template (V, 3) given the 3D jaw points (17, 3)
    on it: every vertex on the point's side whose height lies within half the distance to the
    neighbouring jaw points. Returns candidates (16, M) -1 padded and sides (16,)."""
    centre_x = float(template[:, 0].mean())
    bands, sides = [], []
    for landmark in CONTOUR_POINTS:
        y = jaw_points[landmark, 1]
        neighbours = [jaw_points[j, 1] for j in (landmark - 1, landmark + 1) if 0 <= j < 17]
        half = max(max(abs(n - y) for n in neighbours) / 2.0, 0.25)
        side = -1.0 if landmark < 8 else 1.0
        on_side = (template[:, 0] - centre_x) * side > 0.5
        in_band = np.abs(template[:, 1] - y) <= half
        bands.append(np.nonzero(on_side & in_band)[0])
        sides.append(side)
    width = max(len(b) for b in bands)
    candidates = np.full((len(bands), width), -1, np.int64)
    for c, band in enumerate(bands):
        candidates[c, : len(band)] = band
    return candidates, np.array(sides)


# --- building and fitting the definition ------------------------------------------------------

#: Vertices per non-contour landmark in the fitted affine combination.
NEIGHBOURS = 10


def bootstrap_definition(topology: Topology) -> Landmarks2D:
    """The 2D definition before any fitting: every point is its 3D definition (the barycentric
    point on its triangle, written over its ``NEIGHBOURS`` nearest vertices), the contour
    points march with no offset."""
    template = topology.vertices
    points3d = topology.landmarks_from_vertices(template)
    ids = np.zeros((68, NEIGHBOURS), np.int64)
    weights = np.zeros((68, NEIGHBOURS))
    for landmark in range(68):
        corners = topology.triangles[topology.landmark_triangles[landmark]]
        order = np.argsort(np.linalg.norm(template - points3d[landmark], axis=1))
        others = [v for v in order if v not in corners][: NEIGHBOURS - 3]
        ids[landmark] = np.concatenate([corners, others])
        weights[landmark, :3] = topology.landmark_barycentric[landmark]
    candidates, sides = contour_bands(template, points3d[:17])
    return Landmarks2D(
        ids,
        weights,
        candidates,
        sides,
        np.zeros((len(CONTOUR_POINTS), 2)),
        "bootstrap: the 3D definition, contour marching without offsets",
    )


def fit_definition(
    start: Landmarks2D,
    meshes: np.ndarray,
    targets: np.ndarray,
    ridge: float = 1e-3,
    source: str = "",
) -> Landmarks2D:
    """Fit the 2D definition to human labels.

    meshes (N, V, 3) image pixels; targets (N, 68, 2) the human points on the same images.
    Non-contour points: affine weights over ``start``'s vertex ids minimising the squared error
    in face sizes, with a ridge pull (``ridge``) toward ``start``'s weights. Contour points: the
    mean residual after marching, in face sizes along the face's (axis, normal).
    """
    meshes = np.asarray(meshes, dtype=np.float64)[..., :2]
    frames = [face_frame(m) for m in meshes]
    sizes = np.array([f[2] for f in frames])
    weights = start.weights.copy()
    contour = set(CONTOUR_POINTS)
    k = start.vertex_ids.shape[1]
    basis = np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])  # (K, K-1): columns sum to zero
    for landmark in range(68):
        if landmark in contour:
            continue
        x = meshes[:, start.vertex_ids[landmark]] / sizes[:, None, None]  # (N, K, 2)
        h = targets[:, landmark] / sizes[:, None]  # (N, 2)
        w0 = start.weights[landmark]
        design = np.einsum("nkd,kj->ndj", x, basis).reshape(-1, k - 1)
        residual = (h - np.einsum("nkd,k->nd", x, w0)).reshape(-1)
        lhs = design.T @ design + ridge * len(meshes) * np.eye(k - 1)
        a = np.linalg.solve(lhs, design.T @ residual)
        weights[landmark] = w0 + basis @ a
    unshifted = Landmarks2D(
        start.vertex_ids,
        weights,
        start.candidates,
        start.sides,
        np.zeros_like(start.offsets),
        source,
    )
    residuals = np.zeros((len(meshes), len(CONTOUR_POINTS), 2))
    for n, mesh in enumerate(meshes):
        axis, normal, size = frames[n]
        marched = unshifted.points(np.column_stack([mesh, np.zeros(len(mesh))]))
        diff = (targets[n, list(CONTOUR_POINTS)] - marched[list(CONTOUR_POINTS)]) / size
        residuals[n] = np.stack([diff @ axis, diff @ normal], 1)
    offsets = np.median(residuals, axis=0)
    return Landmarks2D(start.vertex_ids, weights, start.candidates, start.sides, offsets, source)
