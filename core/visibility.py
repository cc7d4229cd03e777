"""Visibility of the REPORTED landmarks as a person sees them: occlusion by the face itself.

The cascade has its own visibility, the method's v_i = N_c . N_i > 0 (core/tensor_ops.py); its
MSIF zeroes the features of points it calls hidden, and the network was trained with it, so it
stays as it is inside the cascade (``StageOutput.visible``). A normal cannot see occlusion by
another part of the face (the far eye corner behind the nose bridge still faces the camera by
its own normal) and calls the jaw of a frontal face hidden (its normals point sideways). What
``predict``, ``annotate`` and the studio report (``Face.visible``) is therefore a depth test
(docs/adr/0028-occlusion-visibility.md):

* the reconstructed dense mesh (the 468-vertex topology's triangles, core/topology.py) is
  queried at each landmark's image position, exactly the z-buffer value of that pixel;
* a landmark is hidden when the mesh lies in front of it (toward the viewer, +z) by more than
  ``OCCLUSION_MARGIN`` x the face size (sqrt(w h) of the mesh's image box);
* the jaw (contour) points: in the 2d landmark definition they follow the visible outline, so
  they are visible by definition; in the 3d definition a jaw point is hidden only when it is
  also deep inside the mesh's silhouette (``CONTOUR_INSET``): the jaw of a near-frontal face
  lies behind the cheek in depth, yet a person sees it as the face's outline.

Points outside the mesh's silhouette have nothing in front of them: visible. Shapes: points
(K, 3) and vertices (V, 3) in image pixels (x right, y down, z toward the viewer).
"""

from __future__ import annotations

import numpy as np

from mtface.core.geometry import surface_depth_at

#: How far (fraction of the face size) the mesh must lie in front of a landmark to hide it.
#: Chosen on training-side data only (tools/calibrate_visibility.py, ADR 28): on 217 frontal
#: (|yaw| <= 10) w300 training photos 0.6 % of points hidden with ``CONTOUR_INSET``, and on 397
#: synthetic views of training photos (exact z-buffer labels) visible recall >= 95.6 % in every
#: yaw bin; 0.03 hides 3 % of frontal points, 0.08 lowers the (60,90] balanced accuracy.
OCCLUSION_MARGIN = 0.05
#: A jaw (contour) point is hidden only when it is also this deep inside the mesh's silhouette
#: (fraction of the face size): the jaw of a near-frontal face lies behind the cheek in depth
#: but on the outline a person sees (0.0 leaves 9 % of frontal points hidden, 0.06 0.6 %).
CONTOUR_INSET = 0.06


def face_size_of_mesh(vertices: np.ndarray) -> float:
    """sqrt(width * height) of the mesh's image (x, y) box, pixels, at least 1."""
    span = np.ptp(np.asarray(vertices, dtype=np.float64)[:, :2], axis=0)
    return float(max(np.sqrt(max(span[0], 0.0) * max(span[1], 0.0)), 1.0))


def occlusion_depth(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """How far the mesh lies in front of each point along the viewing ray, as a fraction of the
    face size (``face_size_of_mesh``): nearest surface z at the point's (x, y) minus the point's
    z; negative when the point is in front of the surface, -inf outside the silhouette.

    points (K, 3), vertices (V, 3) image pixels, triangles (T, 3) -> (K,)."""
    pts = np.asarray(points, dtype=np.float64)
    verts = np.asarray(vertices, dtype=np.float64)
    depth = surface_depth_at(verts, np.asarray(triangles), pts[:, :2])
    return (depth - pts[:, 2]) / face_size_of_mesh(verts)


def occlusion_visibility(
    points: np.ndarray,
    vertices: np.ndarray,
    triangles: np.ndarray,
    margin: float = OCCLUSION_MARGIN,
) -> np.ndarray:
    """True where no part of the mesh lies more than ``margin`` x the face size in front of the
    point. points (K, 3), vertices (V, 3) image pixels, triangles (T, 3) -> (K,) bool."""
    return occlusion_depth(points, vertices, triangles) <= margin


#: Raster (pixels on the larger side of the face box) of the silhouette mask.
SILHOUETTE_RESOLUTION = 96


def silhouette_inset(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """How deep inside the mesh's silhouette each point lies (distance to the outline, fraction
    of the face size; 0 on or outside it). The silhouette is the union of the projected
    triangles rendered at ``SILHOUETTE_RESOLUTION`` with the eye and mouth holes filled.

    points (K, >=2), vertices (V, 3) image pixels, triangles (T, 3) -> (K,)."""
    import cv2

    verts = np.asarray(vertices, dtype=np.float64)
    low = verts[:, :2].min(0)
    side = max(float(np.ptp(verts[:, 0])), float(np.ptp(verts[:, 1])), 1e-6)
    scale = (SILHOUETTE_RESOLUTION - 1) / side
    pad = 2
    size = SILHOUETTE_RESOLUTION + 2 * pad
    corners = np.round(((verts[:, :2] - low) * scale + pad) * 16).astype(np.int32)
    mask = np.zeros((size, size), np.uint8)
    for tri in np.asarray(triangles):
        cv2.fillConvexPoly(mask, corners[tri], 255, lineType=cv2.LINE_8, shift=4)
    outside = np.zeros((size + 2, size + 2), np.uint8)
    holes = mask.copy()
    cv2.floodFill(holes, outside, (0, 0), 255)  # the background from the border
    mask |= cv2.bitwise_not(holes)  # what the flood did not reach is a hole: fill it
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    xy = (np.asarray(points, dtype=np.float64)[:, :2] - low) * scale + pad
    ix = np.clip(np.round(xy[:, 0]).astype(int), 0, size - 1)
    iy = np.clip(np.round(xy[:, 1]).astype(int), 0, size - 1)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= size - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= size - 1)
    return np.where(inside, distance[iy, ix], 0.0) / scale / face_size_of_mesh(verts)


def reported_visibility(
    points: np.ndarray,
    vertices: np.ndarray,
    triangles: np.ndarray,
    contour: tuple[int, ...] | list[int],
    contour_on_outline: bool,
) -> np.ndarray:
    """The visibility a face reports (``Face.visible``): ``occlusion_visibility``; the
    ``contour`` (jaw) points are visible by definition when they follow the visible outline
    (``contour_on_outline``, the 2d landmark definition), else also when they lie within
    ``CONTOUR_INSET`` of the silhouette's outline. points (68, 3), vertices (V, 3) image
    pixels -> (68,) bool."""
    visible = occlusion_visibility(points, vertices, triangles)
    contour = list(contour)
    if contour_on_outline:
        visible[contour] = True
    elif not visible[contour].all():
        hidden = [i for i in contour if not visible[i]]
        inset = silhouette_inset(np.asarray(points)[hidden], vertices, triangles)
        visible[hidden] = inset <= CONTOUR_INSET
    return visible
