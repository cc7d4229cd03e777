"""Large-pose synthesis ("face profiling", the way 300W-LP was made from 300-W).

A labelled face is rotated in 3D about a point inside the head; its textured mesh is rendered with
a depth-ordered rasteriser over the image, which is warped to follow the rotation: anchor rings
around the face oval stand for the rest of the head (rotated with it) and the background (rotated
less, then not at all), and are triangulated with the oval. The new view gets exact labels: the
rotated vertices, hence landmarks and visibility, and the composed pose.

Everything works in one square working crop around the face (``work_size`` pixels), so a sample
costs a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import trimesh
from scipy.spatial import Delaunay

from mtface.core.geometry import (
    CropTransform,
    angles_from_rotation,
    box_of_points,
    rotation_from_angles,
)
from mtface.core.topology import Topology

_FLIP_Y = np.diag([1.0, -1.0, 1.0])


@dataclass(frozen=True)
class ProfiledSample:
    """image (S, S, 3) RGB uint8; vertices (V, 3) in its pixels; pose degrees (pitch, yaw, roll)."""

    image: np.ndarray
    vertices: np.ndarray
    pose: tuple[float, float, float]


@lru_cache(maxsize=2)
def _boundary_loop(vertices_bytes: bytes, triangles_bytes: bytes) -> np.ndarray:
    vertices = np.frombuffer(vertices_bytes, dtype=np.float64).reshape(-1, 3)
    triangles = np.frombuffer(triangles_bytes, dtype=np.int64).reshape(-1, 3)
    mesh = trimesh.Trimesh(vertices, triangles, process=False)
    # the outer loop is the longest one (where the eyes and mouth are holes, they are loops too)
    loop = max((np.asarray(line.points) for line in mesh.outline().entities), key=len)
    if loop[0] == loop[-1]:
        loop = loop[:-1]
    # trimesh starts the loop at an arbitrary vertex; start where synthesis always has (the
    # polygon order feeds the Delaunay triangulation and the draw order of the warp)
    boundary = mesh.edges_sorted[
        np.sort(trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1))
    ]
    first = boundary[np.isin(boundary, loop).all(axis=1)][0]
    loop = np.roll(loop, -int(np.flatnonzero(loop == first[0])[0]))
    if loop[1] != first[1]:
        loop = np.concatenate([loop[:1], loop[:0:-1]])
    return loop.astype(np.int64)


def boundary_loop(topology: Topology) -> np.ndarray:
    """Vertex indices (B,) of the outer boundary (the face oval) in order around it.

    The loop is ``Trimesh.outline()``'s longest one, but trimesh starts it at another vertex, so
    its start and direction are fixed here: it starts at the lower-numbered end of its first edge
    in triangle order (edges (0, 1), (1, 2), (2, 0) of each triangle) and runs along that edge
    first, as the hand-written walk that came before did; synthesised samples stay the same.
    """
    verts = np.ascontiguousarray(topology.vertices, dtype=np.float64)
    tris = np.ascontiguousarray(topology.triangles, dtype=np.int64)
    return _boundary_loop(verts.tobytes(), tris.tobytes())


def working_crop(
    image: np.ndarray, vertices: np.ndarray, size: int = 192, context: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Square crop of ``size`` px, ``context`` x the face's larger side, centred on the face.

    Returns (crop (size, size, 3), vertices in crop pixels (V, 3))."""
    tf = CropTransform.from_box(box_of_points(vertices), size, enlarge=context)
    crop = cv2.warpAffine(
        image, tf.affine(), (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return crop, tf.to_crop(vertices)


def _rings(centre: np.ndarray, oval: np.ndarray, size: int) -> list[np.ndarray]:
    """Anchor rings: the oval scaled about the centre by 1.25 and 1.7, then the crop border."""
    rings = [centre[:2] + (oval[:, :2] - centre[:2]) * f for f in (1.25, 1.7)]
    t = np.linspace(0, size - 1, 9)
    border = np.concatenate(
        [
            np.stack([t, np.zeros_like(t)], 1),
            np.stack([t, np.full_like(t, size - 1)], 1),
            np.stack([np.zeros_like(t[1:-1]), t[1:-1]], 1),
            np.stack([np.full_like(t[1:-1], size - 1), t[1:-1]], 1),
        ]
    )
    return rings + [border]


def profile_face(
    image: np.ndarray,
    vertices: np.ndarray,
    pose: tuple[float, float, float],
    delta: tuple[float, float, float],
    topology: Topology,
) -> ProfiledSample:
    """Rotate a labelled face by ``delta`` = (pitch, yaw, roll) degrees (applied after its pose).

    image (S, S, 3) working crop; vertices (V, 3) in its pixels. The rotation centre lies behind
    the face centroid by 0.6 x the face width (inside the head).
    """
    size = image.shape[0]
    oval_idx = boundary_loop(topology)
    width = vertices[:, 0].max() - vertices[:, 0].min()
    centre = vertices.mean(0) - np.array([0.0, 0.0, 0.6 * width])
    rot_delta = rotation_from_angles(*delta)
    rot_img = _FLIP_Y @ rot_delta @ _FLIP_Y  # the same rotation in image axes (y down)

    def rotate(points: np.ndarray, amount: float = 1.0) -> np.ndarray:
        moved = (points - centre) @ rot_img.T + centre
        return points + amount * (moved - points)

    new_vertices = rotate(vertices)
    oval = vertices[oval_idx]
    rings = _rings(centre, oval, size)
    # depth of the anchors: the head continues behind the oval (ring 1 at the oval's depth minus
    # a little, ring 2 at the rotation centre's depth); the border stays put
    ring_z = [
        np.full(len(rings[0]), oval[:, 2].mean() - 0.15 * width),
        np.full(len(rings[1]), centre[2]),
    ]
    src_pts = [oval[:, :2]] + rings
    dst_pts = [
        new_vertices[oval_idx, :2],
        rotate(np.column_stack([rings[0], ring_z[0]]), 1.0)[:, :2],
        rotate(np.column_stack([rings[1], ring_z[1]]), 0.5)[:, :2],
        rings[2],
    ]
    src_outer = np.concatenate(src_pts)
    dst_outer = np.concatenate(dst_pts)
    tri = Delaunay(src_outer).simplices
    inside = cv2.pointPolygonTest  # the face oval is covered by the mesh itself
    oval_poly = oval[:, :2].astype(np.float32).reshape(-1, 1, 2)
    centroids = src_outer[tri].mean(1)
    keep = np.array([inside(oval_poly, (float(x), float(y)), False) < 0 for x, y in centroids])
    outer_tris = tri[keep]

    # rasterise: outer triangles first (behind), then front-facing face triangles far to near
    face_tris = topology.triangles
    v0, v1, v2 = (new_vertices[face_tris[:, k]] for k in range(3))
    facing = np.cross(v1 - v0, v2 - v0)[:, 2] > 0
    order = np.argsort(new_vertices[face_tris].mean(1)[:, 2])
    face_draw = [t for t in order if facing[t]]

    src_all = np.concatenate([vertices[:, :2], src_outer])
    dst_all = np.concatenate([new_vertices[:, :2], dst_outer])
    offset = len(vertices)
    triangles = np.concatenate([outer_tris + offset, face_tris[face_draw]])
    ids = np.zeros((size, size), np.int32)
    for k, t in enumerate(triangles):
        cv2.fillConvexPoly(
            ids, np.round(dst_all[t] * 16).astype(np.int32), k + 1, lineType=cv2.LINE_8, shift=4
        )
    # per-triangle affine dst -> src
    d = np.concatenate([dst_all[triangles], np.ones((len(triangles), 3, 1))], 2)  # (T, 3, 3)
    s = src_all[triangles]  # (T, 3, 2)
    det = np.linalg.det(d)
    ok = np.abs(det) > 1e-6
    affine = np.zeros((len(triangles), 2, 3))
    affine[ok] = np.transpose(np.linalg.solve(d[ok], s[ok]), (0, 2, 1))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    a = affine[np.maximum(ids - 1, 0)]
    map_x = a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]
    map_y = a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]
    hole = (ids == 0) | ~ok[np.maximum(ids - 1, 0)]
    map_x[hole], map_y[hole] = xs[hole], ys[hole]
    out = cv2.remap(
        image,
        map_x.astype(np.float32),
        map_y.astype(np.float32),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    new_pose = angles_from_rotation(rot_delta @ rotation_from_angles(*pose))
    new_vertices = new_vertices.copy()
    new_vertices[:, 2] -= new_vertices[:, 2].mean()
    return ProfiledSample(out, new_vertices.astype(np.float32), new_pose)
