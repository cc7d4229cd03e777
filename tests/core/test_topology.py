"""The bundled MediaPipe canonical topology and its landmark schemes."""

from __future__ import annotations

import numpy as np
import pytest

from mtface.core.topology import (
    AFLW21_FROM_68,
    IBUG68_FLIP,
    aflw21_from_68,
    ibug68_edges,
    ibug68_name,
)
from tests.conftest import shared_path


def test_counts_and_ranges(topology):
    assert topology.vertices.shape == (468, 3)
    assert topology.triangles.shape == (898, 3)
    assert topology.uv.shape == (468, 2)
    assert topology.triangles.min() == 0 and topology.triangles.max() == 467
    assert ((topology.uv >= 0) & (topology.uv <= 1)).all()
    assert "Apache-2.0" in topology.source


def test_winding_gives_frontal_normals_toward_the_viewer(topology):
    v = topology.vertices
    t = topology.triangles
    nz = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])[:, 2]
    assert (nz > 0).mean() > 0.9


def test_flip_permutations_are_involutions_that_mirror(topology):
    perm = topology.flip_permutation
    assert np.array_equal(perm[perm], np.arange(468))
    mirrored = topology.vertices[perm] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(mirrored - topology.vertices).max() < 1e-3
    assert np.array_equal(IBUG68_FLIP[IBUG68_FLIP], np.arange(68))
    assert IBUG68_FLIP[36] == 45 and IBUG68_FLIP[0] == 16 and IBUG68_FLIP[30] == 30


def test_landmark_embedding_is_on_the_surface_and_nearly_symmetric(topology):
    assert np.allclose(topology.landmark_barycentric.sum(1), 1.0, atol=1e-5)
    assert (topology.landmark_barycentric >= -1e-6).all()
    lm = topology.landmarks_from_vertices(topology.vertices)
    mirrored = (lm * np.array([-1.0, 1.0, 1.0]))[IBUG68_FLIP]
    width = np.ptp(topology.vertices[:, 0])
    assert np.abs(mirrored - lm).max() < 0.05 * width
    # anatomy: eyes above the nose tip above the mouth above the chin (y down)
    assert lm[36:48, 1].mean() < lm[30, 1] < lm[48:60, 1].mean() < lm[8, 1]


def test_names_and_edges():
    assert ibug68_name(0) == "jaw 1"
    assert ibug68_name(36) == "right_eye 1"
    with pytest.raises(IndexError):
        ibug68_name(68)
    edges = ibug68_edges()
    assert (36, 41) in [tuple(sorted(e)) for e in edges] or (41, 36) in edges
    assert all(0 <= a < 68 and 0 <= b < 68 for a, b in edges)


def test_aflw21_mapping_shape():
    pts = np.random.default_rng(0).normal(size=(3, 68, 2))
    assert aflw21_from_68(pts).shape == (3, 21, 2)
    assert len(AFLW21_FROM_68) == 21


@pytest.mark.shared
def test_aflw21_mapping_matches_the_protocol_labels():
    proto = shared_path("aflw2000_3d_subset", "protocol")
    p68 = np.transpose(np.load(proto / "AFLW2000-3D.pts68.npy")[:, :2], (0, 2, 1))
    p21 = np.transpose(np.load(proto / "AFLW2000-3D.pts21.npy")[:, :2], (0, 2, 1))
    mapped = aflw21_from_68(p68)
    err = np.linalg.norm(mapped - p21, axis=2)
    err = np.where((p21 > 0).all(axis=2), err, np.nan)
    # every point of the mapping lands within a few pixels of its AFLW annotation on average
    assert np.nanmean(err, axis=0).max() < 8.0
