"""core/registration.py's closest point on a mesh (trimesh), against the hand-written search it
replaced (reference values computed with it) and against its own definition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtface.core import registration
from mtface.core.geometry import barycentric_points
from mtface.core.registration import closest_points_on_mesh

#: 300 points around the canonical mesh (seeded noise of 5% of its size) and the closest surface
#: points that the hand-written Ericson search found for them before trimesh replaced it.
REFERENCE = Path(__file__).parent / "data" / "closest_points_reference.npz"


def _square():
    vertices = np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    return vertices, np.array([[0, 1, 2], [0, 2, 3]])


# --- smoke / shapes -------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 7])
def test_shapes(count):
    vertices, triangles = _square()
    closest, bary, tri = closest_points_on_mesh(vertices, triangles, np.zeros((count, 3)))
    assert closest.shape == (count, 3) and bary.shape == (count, 3) and tri.shape == (count,)
    assert tri.dtype.kind == "i"


# --- exceptions -----------------------------------------------------------------------------


def test_bad_points_and_meshes_are_refused():
    vertices, triangles = _square()
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        closest_points_on_mesh(vertices, triangles, np.zeros(3))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        closest_points_on_mesh(vertices, triangles, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="non-zero area"):
        closest_points_on_mesh(vertices, np.array([[0, 1, 1]]), np.zeros((1, 3)))


def test_zero_area_triangles_are_skipped():
    vertices, triangles = _square()
    triangles = np.vstack([triangles, [[1, 1, 2]]])
    closest, bary, tri = closest_points_on_mesh(vertices, triangles, np.array([[1.5, 0.5, 0.0]]))
    assert np.allclose(closest, [[1.0, 0.5, 0.0]]) and np.isfinite(bary).all() and tri[0] == 0


# --- numerical values -----------------------------------------------------------------------


def test_regions_of_a_triangle():
    """Inside, beyond an edge and beyond a corner (Ericson's regions)."""
    vertices, triangles = _square()
    points = np.array([[0.25, 0.5, 2.0], [3.0, 0.5, 0.0], [-1.0, -1.0, 0.0], [0.5, -2.0, 1.0]])
    closest, bary, tri = closest_points_on_mesh(vertices, triangles, points)
    assert np.allclose(closest, [[0.25, 0.5, 0], [1.0, 0.5, 0], [0, 0, 0], [0.5, 0, 0]], atol=1e-12)
    assert np.allclose(bary.sum(1), 1.0) and (bary > -1e-12).all()
    assert np.allclose(barycentric_points(vertices, triangles, tri, bary), closest, atol=1e-12)


def test_same_points_as_the_hand_written_search(topology):
    """Same points within 1e-6; triangle ids are not compared: a point on an edge shared by two
    triangles is the same point whichever triangle is reported."""
    ref = np.load(REFERENCE)
    vertices = topology.vertices.astype(np.float64)
    closest, bary, tri = closest_points_on_mesh(vertices, topology.triangles, ref["points"])
    assert np.abs(closest - ref["closest"]).max() < 1e-6
    embedded = barycentric_points(vertices, topology.triangles, tri, bary)
    assert np.abs(embedded - ref["closest"]).max() < 1e-6
    assert np.allclose(bary.sum(1), 1.0) and (bary > -1e-9).all() and (bary < 1 + 1e-9).all()


def test_batching_does_not_change_the_result(topology, monkeypatch):
    ref = np.load(REFERENCE)
    points = ref["points"][:40]
    vertices = topology.vertices.astype(np.float64)
    whole = closest_points_on_mesh(vertices, topology.triangles, points)
    monkeypatch.setattr(registration, "_PAIRS", 3 * len(topology.triangles))  # 3 points a batch
    batched = closest_points_on_mesh(vertices, topology.triangles, points)
    for a, b in zip(whole, batched):
        assert np.array_equal(a, b)


def test_no_surface_point_is_nearer(topology):
    """The result is at least as near as every vertex and every triangle centroid."""
    ref = np.load(REFERENCE)
    vertices = topology.vertices.astype(np.float64)
    points = ref["points"][:50]
    closest, _, _ = closest_points_on_mesh(vertices, topology.triangles, points)
    found = np.linalg.norm(closest - points, axis=1)
    samples = np.concatenate([vertices, vertices[topology.triangles].mean(1)])
    nearest_sample = np.linalg.norm(points[:, None] - samples[None], axis=-1).min(1)
    assert (found <= nearest_sample + 1e-12).all()
