"""Geometry on faces: projection, normals, visibility, pose angles and crop transforms.

Conventions (tested in tests/core/test_geometry.py):

* Vertices and landmarks are in image pixel coordinates: x to the right, y down, z toward the
  viewer in the same pixel scale. Pixel centres are at integer coordinates.
* Triangles are wound so that the outward normals of a frontal face point to +z.
* Pose angles are degrees in the AFLW2000-3D / 300W-LP ``Pose_Para`` convention:
  R = Rx(pitch) Ry(yaw) Rz(roll) with Rx = [[1,0,0],[0,c,s],[0,-s,c]],
  Ry = [[c,0,-s],[0,1,0],[s,0,c]], Rz = [[c,s,0],[-s,c,0],[0,0,1]], acting on column vectors of a
  model in (x right, y UP, z toward the viewer), exactly as in those datasets, so evaluation
  needs no conversion.

All functions accept numpy arrays; the ones used in training also accept torch tensors where
stated. The surface computations shared with the cascade (``barycentric_points``, the
visibility scores) live in ``core/tensor_ops.py``, which imports nothing of mtface: this module
builds on it, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mtface.core.tensor_ops import barycentric_points, visibility_scores


def project_orthographic(points: np.ndarray) -> np.ndarray:
    """Orthographic projection. points (..., 3) -> (..., 2), same units (pixels)."""
    return points[..., :2]


def landmark_visibility(
    vertices: np.ndarray,
    triangles: np.ndarray,
    point_triangles: np.ndarray,
    barycentric: np.ndarray,
    zbuffer: bool = False,
    depth_tolerance: float = 1.0,
) -> np.ndarray:
    """Visibility of surface points as in the method: v_i = N_c . N_i > 0.

    N_i is the area-weighted vertex normal interpolated at the point; N_c = (0, 0, 1). With
    ``zbuffer`` a point is also hidden when another part of the mesh lies in front of it (more
    than ``depth_tolerance`` pixels closer) along the viewing ray. vertices (V, 3) in pixels ->
    (K,) bool.
    """
    scores = visibility_scores(
        torch.as_tensor(vertices, dtype=torch.float64)[None],
        torch.as_tensor(triangles),
        torch.as_tensor(point_triangles),
        torch.as_tensor(barycentric, dtype=torch.float64),
    )[0].numpy()
    visible = scores > 0.0
    if zbuffer:
        points = barycentric_points(vertices, triangles, point_triangles, barycentric)
        depth = surface_depth_at(vertices, triangles, points[:, :2])
        visible &= points[:, 2] >= depth - depth_tolerance
    return visible


def surface_depth_at(vertices: np.ndarray, triangles: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Largest z (nearest to the viewer) of the mesh at each 2D query point; -inf outside: the
    z-buffer of the mesh read at those points, without rendering it. Only the triangles whose
    (x, y) box holds a point are solved (a few per point), so 68 points on the 898-triangle
    mesh cost well under a millisecond.

    vertices (V, 3), triangles (T, 3), xy (K, 2) -> (K,).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64)
    triangles = np.asarray(triangles)
    tri_x, tri_y = vertices[:, 0][triangles], vertices[:, 1][triangles]  # (T, 3) each
    eps = 1e-6
    # (point, triangle) pairs whose box holds the point: the points sorted by x, each
    # triangle's x range is a run of them (a search, not a K x T table), then y is tested
    order = np.argsort(xy[:, 0], kind="stable")
    lo = np.searchsorted(xy[order, 0], tri_x.min(1) - eps, "left")
    hi = np.searchsorted(xy[order, 0], tri_x.max(1) + eps, "right")
    counts = np.maximum(hi - lo, 0)
    t = np.repeat(np.arange(len(triangles)), counts)
    k = order[np.arange(len(t)) + np.repeat(lo - (np.cumsum(counts) - counts), counts)]
    holds = (xy[k, 1] >= tri_y.min(1)[t] - eps) & (xy[k, 1] <= tri_y.max(1)[t] + eps)
    k, t = k[holds], t[holds]
    out = np.full(len(xy), -np.inf)
    if len(k) == 0:
        return out
    corners = vertices[triangles[t]]  # (pairs, 3, 3)
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    v0, v1, v2 = (b - a)[:, :2], (c - a)[:, :2], xy[k] - a[:, :2]
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    ok = np.abs(den) >= 1e-12
    den = np.where(ok, den, 1.0)
    w1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    w2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    w0 = 1.0 - w1 - w2
    inside = ok & (w0 >= -eps) & (w1 >= -eps) & (w2 >= -eps)
    z = w0 * a[:, 2] + w1 * b[:, 2] + w2 * c[:, 2]
    np.maximum.at(out, k[inside], z[inside])
    return out


# --- pose -----------------------------------------------------------------------------------


def rotation_from_angles(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """R = Rx(pitch) Ry(yaw) Rz(roll), angles in DEGREES, ``Pose_Para`` convention -> (3, 3)."""
    p, y, r = np.deg2rad([pitch, yaw, roll])
    cp, sp, cy, sy, cr, sr = np.cos(p), np.sin(p), np.cos(y), np.sin(y), np.cos(r), np.sin(r)
    rx = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cr, sr, 0], [-sr, cr, 0], [0, 0, 1]])
    return rx @ ry @ rz


def angles_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_from_angles`: (3, 3) -> (pitch, yaw, roll) in degrees.

    Yaw is in [-90, 90]; at the gimbal lock (|yaw| = 90) roll is set to 0.
    """
    r = np.asarray(rotation, dtype=np.float64)
    yaw = np.arcsin(np.clip(-r[0, 2], -1.0, 1.0))
    if abs(r[0, 2]) < 1.0 - 1e-9:
        pitch = np.arctan2(r[1, 2], r[2, 2])
        roll = np.arctan2(r[0, 1], r[0, 0])
    else:
        pitch = np.arctan2(-r[2, 1], r[1, 1])
        roll = 0.0
    return tuple(float(a) for a in np.rad2deg([pitch, yaw, roll]))  # type: ignore[return-value]


def image_to_model_axes(points: np.ndarray) -> np.ndarray:
    """(x right, y down, z to viewer) -> (x right, y up, z to viewer): negate y. (..., 3)."""
    return points * np.array([1.0, -1.0, 1.0])


def similarity_fit(
    source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted Umeyama fit: (scale, R (3, 3) proper rotation, t (3,)) with target ~ s R source + t.

    source, target (N, 3); weights (N,) non-negative or None.
    """
    w = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s, mu_t = w @ source, w @ target
    a, b = source - mu_s, target - mu_t
    cov = (b * w[:, None]).T @ a
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = float((sig * np.diag(fix)).sum() / (w @ (a**2).sum(axis=1)))
    return scale, rot, mu_t - scale * rot @ mu_s


def pose_from_vertices(
    vertices: np.ndarray, template: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Head pose (pitch, yaw, roll) in degrees of a reconstructed mesh against the template.

    Both are in image axes (V, 3); the fit runs in model axes (y up), as MediaPipe's geometry
    pipeline does, then :func:`angles_from_rotation`.
    """
    _, rot, _ = similarity_fit(
        image_to_model_axes(template), image_to_model_axes(vertices), weights
    )
    return angles_from_rotation(rot)


# --- crops ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CropTransform:
    """Similarity from image pixels to crop pixels, optionally turned in the image plane:
    crop = Rot(-angle) (image - origin) * scale.

    ``origin`` is the image point (x, y) that maps to crop pixel (0, 0); ``scale`` is crop
    pixels per image pixel, applied to x, y and z alike (z has no origin shift); ``angle``
    (radians) is the direction of the crop's x axis in the image (0: axis-aligned; positive
    turns it from image x toward image y, i.e. clockwise on screen). A face whose eye line
    runs at ``angle`` in the image is level in the crop (ADR 35). Turning about the viewing
    axis leaves z unchanged.
    """

    origin_x: float
    origin_y: float
    scale: float
    size: int
    angle: float = 0.0

    @staticmethod
    def from_box(
        box: tuple[float, float, float, float],
        size: int,
        enlarge: float = 1.0,
        angle: float = 0.0,
    ) -> CropTransform:
        """Square crop of ``size`` pixels centred on ``box`` = (x0, y0, x1, y1), side =
        ``enlarge`` * max(w, h), its x axis at ``angle`` radians in the image."""
        x0, y0, x1, y1 = box
        side = max(x1 - x0, y1 - y0) * enlarge
        if side <= 0:
            raise ValueError(f"degenerate face box {box}")
        return CropTransform.about_centre((x0 + x1) / 2.0, (y0 + y1) / 2.0, side, size, angle)

    @staticmethod
    def about_centre(
        cx: float, cy: float, side: float, size: int, angle: float = 0.0
    ) -> CropTransform:
        """Square crop of ``size`` pixels showing ``side`` image pixels centred on (cx, cy),
        its x axis at ``angle`` radians in the image."""
        if side <= 0:
            raise ValueError(f"degenerate crop side {side}")
        scale = size / side
        # pixel centres at integers: crop pixel (size-1)/2 is the centre
        half = (size - 1) / 2.0 / scale
        c, s = np.cos(angle), np.sin(angle)
        return CropTransform(
            cx - (c * half - s * half), cy - (s * half + c * half), scale, size, float(angle)
        )

    @property
    def centre(self) -> np.ndarray:
        """(2,) the image point at the crop's centre pixel."""
        return self.to_image(np.full(2, (self.size - 1) / 2.0))

    @property
    def side(self) -> float:
        """The crop's side in image pixels."""
        return self.size / self.scale

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Image -> crop coordinates. points (..., 2) or (..., 3)."""
        out = np.array(points, dtype=np.float64, copy=True)
        dx = out[..., 0] - self.origin_x
        dy = out[..., 1] - self.origin_y
        c, s = np.cos(self.angle), np.sin(self.angle)
        out[..., 0] = (c * dx + s * dy) * self.scale
        out[..., 1] = (-s * dx + c * dy) * self.scale
        if out.shape[-1] == 3:
            out[..., 2] *= self.scale
        return out

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Crop -> image coordinates. points (..., 2) or (..., 3)."""
        out = np.array(points, dtype=np.float64, copy=True)
        u = out[..., 0] / self.scale
        v = out[..., 1] / self.scale
        c, s = np.cos(self.angle), np.sin(self.angle)
        out[..., 0] = c * u - s * v + self.origin_x
        out[..., 1] = s * u + c * v + self.origin_y
        if out.shape[-1] == 3:
            out[..., 2] /= self.scale
        return out

    def affine(self) -> np.ndarray:
        """2x3 affine matrix for ``cv2.warpAffine`` (image -> crop)."""
        c, s = np.cos(self.angle) * self.scale, np.sin(self.angle) * self.scale
        return np.array(
            [
                [c, s, -(c * self.origin_x + s * self.origin_y)],
                [-s, c, -(-s * self.origin_x + c * self.origin_y)],
            ]
        )


#: The 3DDFA crop rule used for training, evaluation and the predictor's refined crop: a square
#: of side sqrt(2) x the larger side of the 68-landmark box, centred on the box.
PROTOCOL_CROP_ENLARGE = float(np.sqrt(2.0))


def protocol_crop(
    landmarks_2d: np.ndarray,
    size: int,
    enlarge: float = PROTOCOL_CROP_ENLARGE,
    angle: float = 0.0,
) -> CropTransform:
    """The 3DDFA crop of landmarks (N, >=2) in image pixels, ``size`` crop pixels; with an
    ``angle`` (radians) the rule is applied in the frame turned by it (the box of the points
    as the turned crop sees them)."""
    if angle == 0.0:
        return CropTransform.from_box(box_of_points(landmarks_2d), size, enlarge)
    c, s = np.cos(angle), np.sin(angle)
    xy = np.asarray(landmarks_2d, dtype=np.float64)[:, :2]
    turned = xy @ np.array([[c, -s], [s, c]])  # each row Rot(-angle) p
    x0, y0, x1, y1 = box_of_points(turned)
    side = max(x1 - x0, y1 - y0) * enlarge
    mid = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
    cx, cy = np.array([[c, -s], [s, c]]) @ mid
    return CropTransform.about_centre(float(cx), float(cy), side, size, angle)


def box_of_points(points: np.ndarray) -> tuple[float, float, float, float]:
    """Tight (x0, y0, x1, y1) box of points (N, >=2)."""
    return (
        float(points[:, 0].min()),
        float(points[:, 1].min()),
        float(points[:, 0].max()),
        float(points[:, 1].max()),
    )


def yaw_bin(yaw_degrees: float) -> str:
    """The AFLW2000-3D protocol bin of a yaw: '[0,30]', '(30,60]' or '(60,90]'."""
    a = abs(yaw_degrees)
    if a <= 30:
        return "[0,30]"
    if a <= 60:
        return "(30,60]"
    return "(60,90]"
