"""Tensor functions: shapes, values, gradients, agreement with the numpy geometry."""

from __future__ import annotations

import numpy as np
import torch

from mtface.core.geometry import barycentric_points
from mtface.core.tensor_ops import (
    extract_patches,
    modified_shape_indexed_features,
    vertex_normals,
    visibility_scores,
)


def test_vertex_normals_shapes_and_frontal_direction(topology):
    v = torch.as_tensor(topology.vertices, dtype=torch.float64)[None].repeat(2, 1, 1)
    n = vertex_normals(v, torch.as_tensor(topology.triangles))
    assert n.shape == (2, 468, 3)
    assert torch.allclose(n.norm(dim=-1), torch.ones(2, 468, dtype=torch.float64))
    nose_tip = int(np.argmax(topology.vertices[:, 2]))
    assert n[0, nose_tip, 2] > 0.9


def test_visibility_scores_match_and_are_in_range(topology):
    v = torch.as_tensor(topology.vertices, dtype=torch.float64)[None]
    s = visibility_scores(
        v,
        torch.as_tensor(topology.triangles),
        torch.as_tensor(topology.landmark_triangles),
        torch.as_tensor(topology.landmark_barycentric),
    )
    assert s.shape == (1, 68) and (s.abs() <= 1 + 1e-9).all()
    assert (s[0, 17:] > 0).all()


def test_barycentric_points_numpy_and_torch_agree(topology):
    pts_np = barycentric_points(
        topology.vertices,
        topology.triangles,
        topology.landmark_triangles,
        topology.landmark_barycentric,
    )
    pts_t = barycentric_points(
        torch.as_tensor(topology.vertices)[None],
        torch.as_tensor(topology.triangles),
        torch.as_tensor(topology.landmark_triangles),
        torch.as_tensor(topology.landmark_barycentric),
    )
    assert np.allclose(pts_t[0].numpy(), pts_np)


def test_extract_patches_samples_pixel_centres_exactly():
    img = torch.arange(3 * 20 * 20, dtype=torch.float32).reshape(1, 3, 20, 20)
    centres = torch.tensor([[[5.0, 7.0], [10.0, 3.0]]])
    # a 3-sample patch spanning 3 pixels: samples at centre - 1, centre, centre + 1
    patches = extract_patches(img, centres, patch_size=3, patch_extent=3.0)
    assert patches.shape == (1, 2, 3, 3, 3)
    assert torch.allclose(patches[0, 0, :, 1, 1], img[0, :, 7, 5])
    assert torch.allclose(patches[0, 1, 1, 0, 2], img[0, 1, 2, 11])


def test_msif_zero_where_invisible_and_differentiable():
    img = torch.rand(2, 3, 32, 32, requires_grad=True)
    centres = torch.full((2, 4, 2), 16.0)
    visible = torch.tensor([[True, False, True, True], [False, False, False, True]])
    f = modified_shape_indexed_features(img, centres, visible, 6, 8.0)
    assert f.shape == (2, 4, 3, 6, 6)
    assert (f[0, 1] == 0).all() and (f[1, :3] == 0).all() and f[0, 0].abs().sum() > 0
    f.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_patches_outside_the_image_are_zero():
    img = torch.ones(1, 3, 10, 10)
    f = extract_patches(img, torch.tensor([[[-50.0, -50.0]]]), 4, 4.0)
    assert (f == 0).all()


def test_visibility_from_the_plan_equals_the_whole_mesh_normals(topology):
    from mtface.core.tensor_ops import barycentric_points, point_normal_plan

    tri = torch.as_tensor(topology.triangles)
    points = torch.as_tensor(topology.landmark_triangles)
    bary = torch.as_tensor(topology.landmark_barycentric)
    v = torch.as_tensor(topology.vertices)[None] + 0.3 * torch.rand(2, 468, 3, dtype=torch.float64)
    whole = torch.nn.functional.normalize(
        barycentric_points(vertex_normals(v, tri), tri, points, bary), dim=-1
    )[..., 2]
    plan = point_normal_plan(tri, points, bary)
    near = len(plan[0]) // 3  # triangles touching the points' corners
    assert near < len(tri) and plan[1].shape == (near, plan[1].shape[1])
    assert plan[2].shape == (plan[1].shape[1], 68)
    assert torch.allclose(plan[2].sum(0), torch.ones_like(plan[2][0]))  # weights sum to 1
    assert torch.allclose(visibility_scores(v, tri, points, bary, plan), whole, atol=1e-12)
    assert torch.allclose(visibility_scores(v, tri, points, bary), whole, atol=1e-12)
