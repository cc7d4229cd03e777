"""The 2D (human-annotation) landmark definition: marching, fitting, storage."""

from __future__ import annotations

import numpy as np
import pytest

from mtface.core.geometry import rotation_from_angles
from mtface.core.landmarks2d import (
    CONTOUR_POINTS,
    Landmarks2D,
    bootstrap_definition,
    face_frame,
    fit_definition,
)


def placed(topology, yaw=0.0, scale=20.0, centre=(300.0, 260.0)):
    """The template turned by ``yaw`` degrees and placed in image pixels (y down)."""
    flip = np.diag([1.0, -1.0, 1.0])
    rot = flip @ rotation_from_angles(0.0, yaw, 0.0) @ flip
    v = (topology.vertices - topology.vertices.mean(0)) @ rot.T * scale
    return v + np.array([centre[0], centre[1], 0.0])


@pytest.fixture(scope="module")
def start(topology):
    return bootstrap_definition(topology)


def test_shapes_and_rows_sum_to_one(start):
    assert start.vertex_ids.shape == start.weights.shape == (68, 10)
    np.testing.assert_allclose(start.weights.sum(1), 1.0)
    assert start.candidates.shape[0] == len(CONTOUR_POINTS) == 16
    assert set(start.sides.tolist()) == {-1.0, 1.0}


def test_bootstrap_equals_the_3d_definition_off_the_contour(topology, start):
    v = placed(topology)
    inner = [i for i in range(68) if i not in CONTOUR_POINTS]
    np.testing.assert_allclose(
        start.points(v)[inner], topology.landmarks_from_vertices(v)[inner, :2], atol=1e-9
    )


def test_contour_marches_to_the_silhouette_on_a_turned_face(topology, start):
    """Turned 60 degrees, the far side's jaw points (hidden in 3D) move out to the outline of
    the projected mesh."""
    from mtface.core.geometry import landmark_visibility

    v = placed(topology, yaw=60.0)
    pts = start.points(v)
    p3 = topology.landmarks_from_vertices(v)[:, :2]
    visible = landmark_visibility(
        v, topology.triangles, topology.landmark_triangles, topology.landmark_barycentric
    )
    far = list(range(2, 6)) if not visible[2:6].any() else list(range(11, 15))
    assert not visible[far].any()
    _, _, size = face_frame(v[:, :2])
    for i in far:  # the outline at the point's height: the extreme x of the mesh there
        row = v[np.abs(v[:, 1] - pts[i, 1]) < 0.03 * size, 0]
        extreme = row.min() if far[0] < 8 else row.max()
        assert abs(pts[i, 0] - extreme) < 0.03 * size
        assert abs(pts[i, 0] - extreme) < abs(p3[i, 0] - extreme)


def test_frontal_contour_is_near_the_face_outline(topology, start):
    v = placed(topology)
    pts = start.points(v)
    _, _, size = face_frame(v[:, :2])
    assert pts[0, 0] < pts[16, 0]
    assert (
        np.abs(
            pts[list(CONTOUR_POINTS)]
            - topology.landmarks_from_vertices(v)[list(CONTOUR_POINTS), :2]
        ).max()
        < 0.1 * size
    )


def test_fit_recovers_a_constant_shift_of_every_point(topology, start):
    rng = np.random.default_rng(0)
    meshes = np.stack(
        [placed(topology, yaw=rng.uniform(-20, 20), scale=rng.uniform(15, 25)) for _ in range(30)]
    )
    shift = np.zeros((68, 2))
    shift[17:27, 1] = -0.02  # brows higher, in face sizes
    shift[list(CONTOUR_POINTS), 0] = 0.01
    targets = []
    for m in meshes:
        axis, normal, size = face_frame(m[:, :2])
        base = start.points(m)
        targets.append(base + size * (shift[:, :1] * axis + shift[:, 1:] * normal))
    fitted = fit_definition(start, meshes, np.stack(targets), ridge=1e-6)
    errors = [
        np.abs(fitted.points(m) - t).max() / face_frame(m[:, :2])[2]
        for m, t in zip(meshes, targets)
    ]
    assert max(errors) < 2e-3


def test_save_load_round_trip(tmp_path, start):
    path = tmp_path / "def.npz"
    start.save(path)
    loaded = Landmarks2D.load(path)
    for name in ("vertex_ids", "weights", "candidates", "sides", "offsets"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(start, name))


def test_bundled_definition_loads_and_is_fitted():
    bundled = Landmarks2D.load()
    assert bundled.weights.shape == (68, 10) and "fitted" in bundled.source
    assert np.isfinite(bundled.offsets).all()


def test_corrupt_definition_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(RuntimeError, match="2D landmark definition"):
        Landmarks2D.load(bad)
