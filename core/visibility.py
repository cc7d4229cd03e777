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
  also deep inside the face's outline (``CONTOUR_INSET``): the jaw of a near-frontal face
  lies behind the cheek in depth, yet a person sees it as the face's outline.

Points outside the mesh's silhouette have nothing in front of them: visible. Shapes: points
(K, 3) and vertices (V, 3) in image pixels (x right, y down, z toward the viewer).
"""

from __future__ import annotations

import numpy as np

from mtface.core.geometry import surface_depth_at

#: How far (fraction of the face size) the mesh must lie in front of a landmark to hide it, and
#: how deep inside the face's outline a jaw (contour) point must also lie to be hidden: the jaw
#: of a near-frontal face lies behind the cheek in depth but on the outline a person sees.
#: Chosen on training-side data only (tools/calibrate_visibility.py, ADR 28): of the pairs on a
#: grid (0.03-0.08 x 0-0.10) that leave at most 1 % of the points of 217 frontal (|yaw| <= 10)
#: w300 training photos hidden and keep the visible recall >= 95 % in every yaw bin of 397
#: synthetic views of training photos (exact z-buffer labels), the one with the best (60,90]
#: balanced accuracy: frontal 0.39 % hidden, (60,90] 81.9 %, visible recall >= 97.4 %.
OCCLUSION_MARGIN = 0.06
CONTOUR_INSET = 0.05


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


def silhouette_inset(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """How deep inside the face's outline each point lies: its distance to the convex hull of
    the projected mesh (fraction of the face size; 0 on or outside it). The hull stands for the
    silhouette a person sees around the jaw (cheap: no rendering).

    points (K, >=2), vertices (V, 3) image pixels -> (K,)."""
    import cv2

    verts = np.asarray(vertices, dtype=np.float64)
    hull = cv2.convexHull(verts[:, :2].astype(np.float32))
    inside = np.array(
        [
            cv2.pointPolygonTest(hull, (float(x), float(y)), True)
            for x, y in np.asarray(points, dtype=np.float64)[:, :2]
        ]
    )
    return np.maximum(inside, 0.0) / face_size_of_mesh(verts)


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
    ``CONTOUR_INSET`` of the face's outline (``silhouette_inset``). points (68, 3), vertices
    (V, 3) image pixels -> (68,) bool."""
    visible = occlusion_visibility(points, vertices, triangles)
    contour = list(contour)
    if contour_on_outline:
        visible[contour] = True
    elif not visible[contour].all():
        hidden = [i for i in contour if not visible[i]]
        inset = silhouette_inset(np.asarray(points)[hidden], vertices)
        visible[hidden] = inset <= CONTOUR_INSET
    return visible
