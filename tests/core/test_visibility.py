"""The reported visibility (core/visibility.py): a depth test against the reconstructed mesh."""

from __future__ import annotations

import numpy as np
import pytest

from mtface.core.geometry import rotation_from_angles, surface_depth_at
from mtface.core.landmarks2d import CONTOUR_POINTS
from mtface.core.visibility import (
    CONTOUR_INSET,
    OCCLUSION_MARGIN,
    face_size_of_mesh,
    occlusion_depth,
    occlusion_visibility,
    reported_visibility,
    silhouette_inset,
)

# two squares of two triangles each, 100 x 100 px: the front one at z = 50 covers the left half
SQUARES = np.array(
    [
        [0, 0, 0],
        [100, 0, 0],
        [100, 100, 0],
        [0, 100, 0],
        [0, 0, 50],
        [50, 0, 50],
        [50, 100, 50],
        [0, 100, 50],
    ],
    dtype=np.float64,
)
SQUARE_TRIANGLES = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])


def test_surface_depth_numerical_values():
    xy = np.array([[25.0, 50.0], [75.0, 50.0], [150.0, 50.0]])
    depth = surface_depth_at(SQUARES, SQUARE_TRIANGLES, xy)
    assert depth[0] == pytest.approx(50.0) and depth[1] == pytest.approx(0.0)
    assert depth[2] == -np.inf  # outside the mesh


def test_surface_depth_matches_a_brute_force_z_buffer(topology):
    vertices = topology.vertices.astype(np.float64) * 10.0
    xy = np.random.default_rng(0).uniform(vertices[:, :2].min(0), vertices[:, :2].max(0), (50, 2))
    depth = surface_depth_at(vertices, topology.triangles, xy)
    a, b, c = (vertices[topology.triangles[:, k]] for k in range(3))
    expected = np.full(len(xy), -np.inf)
    for i, p in enumerate(xy):
        v0, v1, v2 = b - a, c - a, p - a[:, :2]
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        w1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        w2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        inside = (w1 >= 0) & (w2 >= 0) & (w1 + w2 <= 1)
        if inside.any():
            z = (1 - w1 - w2) * a[:, 2] + w1 * b[:, 2] + w2 * c[:, 2]
            expected[i] = z[inside].max()
    np.testing.assert_allclose(depth, expected, atol=1e-6)


def test_surface_depth_does_not_depend_on_the_points_order_or_repeats(topology):
    vertices = topology.vertices.astype(np.float64) * 10.0
    rng = np.random.default_rng(1)
    xy = rng.uniform(vertices[:, :2].min(0) - 5, vertices[:, :2].max(0) + 5, (40, 2))
    xy[:10] = vertices[rng.integers(0, len(vertices), 10), :2]  # on vertices: many triangles
    xy[10:15, 0] = xy[15:20, 0]  # equal x, other y
    depth = surface_depth_at(vertices, topology.triangles, xy)
    twice = np.concatenate([xy, xy])
    order = rng.permutation(len(twice))
    shuffled = surface_depth_at(vertices, topology.triangles, twice[order])
    np.testing.assert_array_equal(shuffled, np.concatenate([depth, depth])[order])
    assert np.isfinite(depth[:10]).all()


def test_occlusion_hides_points_behind_the_front_square_only():
    size = face_size_of_mesh(SQUARES)
    assert size == pytest.approx(100.0)
    points = np.array([[25.0, 50.0, 0.0], [75.0, 50.0, 0.0], [25.0, 50.0, 50.0]])
    np.testing.assert_allclose(occlusion_depth(points, SQUARES, SQUARE_TRIANGLES), [0.5, 0, 0])
    assert occlusion_visibility(points, SQUARES, SQUARE_TRIANGLES).tolist() == [False, True, True]
    # within the margin: still seen
    near = np.array([[25.0, 50.0, 50.0 - 0.5 * OCCLUSION_MARGIN * size]])
    assert occlusion_visibility(near, SQUARES, SQUARE_TRIANGLES)[0]


def test_silhouette_inset_numerical_values():
    points = np.array([[50.0, 50.0], [1.0, 50.0], [200.0, 50.0]])
    inset = silhouette_inset(points, SQUARES)
    assert inset[0] == pytest.approx(0.5)  # the centre: half the side from the outline
    assert inset[1] == pytest.approx(0.01) and inset[2] == 0.0


def _template_view(topology, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """The canonical face (cm -> 10 px) turned by ``yaw`` degrees: vertices and 68 landmarks."""
    flip = np.diag([1.0, -1.0, 1.0])
    rotation = flip @ rotation_from_angles(0.0, yaw, 0.0) @ flip  # in image axes (y down)
    vertices = topology.vertices.astype(np.float64) * 10.0 @ rotation.T
    return vertices, topology.landmarks_from_vertices(vertices)


def test_frontal_face_shows_every_point_and_a_profile_hides_the_far_side(topology):
    vertices, landmarks = _template_view(topology, 0.0)
    assert reported_visibility(landmarks, vertices, topology.triangles, CONTOUR_POINTS, False).all()
    vertices, landmarks = _template_view(topology, 75.0)
    visible = reported_visibility(landmarks, vertices, topology.triangles, CONTOUR_POINTS, False)
    far_eye = (
        [42, 43, 44, 45, 46, 47] if landmarks[45, 2] < landmarks[36, 2] else list(range(36, 42))
    )
    near_eye = [i for i in range(36, 48) if i not in far_eye]
    assert not visible[far_eye].all() and visible[near_eye].all()
    assert visible[30]  # the nose tip
    on_outline = reported_visibility(landmarks, vertices, topology.triangles, CONTOUR_POINTS, True)
    assert on_outline[list(CONTOUR_POINTS)].all()
    assert CONTOUR_INSET > 0.0


def test_reported_visibility_of_the_predictor_differs_from_the_cascade_normals(sample_image):
    """The predictor reports the depth test; its stages keep the cascade's normal test."""
    from mtface.core.predictor import Predictor

    predictor = Predictor.from_weights()
    (face,) = predictor.predict(sample_image).faces
    expected = reported_visibility(
        face.landmarks, face.vertices, predictor.topology.triangles, CONTOUR_POINTS, False
    )
    np.testing.assert_array_equal(face.visible, expected)
    assert face.stages[-1].visible.dtype == bool
