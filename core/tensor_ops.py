"""Small pure functions on torch tensors used by the cascade (batched, differentiable where it
matters). Shapes: B batch, V vertices, T triangles, K points, S crop side in pixels.

This is the bottom layer of the surface computations: it imports nothing of mtface, and
``core/geometry.py`` builds its numpy functions on it (one way)."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def barycentric_points(
    vertices: Array,
    triangles: np.ndarray | torch.Tensor,
    point_triangles: np.ndarray | torch.Tensor,
    barycentric: Array,
) -> Array:
    """Points embedded on the surface. vertices (..., V, D) -> (..., K, D), same units.

    ``point_triangles`` (K,) are triangle indices and ``barycentric`` (K, 3) their weights.
    Works for numpy arrays and torch tensors alike (batched over leading dimensions).
    """
    corners = vertices[..., triangles[point_triangles], :]  # (..., K, 3, D)
    return (corners * barycentric[..., None]).sum(-2)


def vertex_normals(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals. vertices (B, V, 3), triangles (T, 3) long -> (B, V, 3).

    With the topology's winding, a frontal face in image axes (x right, y down, z to the viewer)
    has normals with positive z.
    """
    v0, v1, v2 = (vertices[:, triangles[:, k]] for k in range(3))
    weighted = torch.cross(v1 - v0, v2 - v0, dim=-1)  # (B, T, 3), length = 2 * area
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals.index_add_(1, triangles[:, k], weighted)
    return F.normalize(normals, dim=-1, eps=1e-12)


def point_normal_plan(
    triangles: torch.Tensor, point_triangles: torch.Tensor, barycentric: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What the normals at points embedded in ``point_triangles`` (K,) with weights
    ``barycentric`` (K, 3) need, computed once per topology: the corners (3 T',) of the T'
    triangles touching any corner of those triangles, flattened; the incidence (T', C) float of
    those triangles on the C corners they touch; and the points' weights (C, K) on the C
    corners' normals (in ``barycentric``'s dtype).
    :func:`visibility_scores` then sums T' triangles instead of the whole mesh with two matrix
    products, which also export to ONNX. Both are laid out for a product with a wide right
    side (3 x T' by T' x C): a C x T' by T' x 3 product costs 2-4 times more on the CPU."""
    triangles = torch.as_tensor(triangles, dtype=torch.long)
    corners = triangles[torch.as_tensor(point_triangles, dtype=torch.long)]  # (K, 3)
    needed, corner_index = torch.unique(corners, return_inverse=True)
    near = triangles[torch.isin(triangles, needed).any(1)]  # (T', 3)
    position = torch.full((int(triangles.max()) + 1,), -1, dtype=torch.long)
    position[needed] = torch.arange(len(needed))
    incidence = torch.zeros(len(near), len(needed))
    rows = torch.arange(len(near))
    for k in range(3):
        columns = position[near[:, k]]
        kept = columns >= 0
        incidence[rows[kept], columns[kept]] = 1.0
    barycentric = torch.as_tensor(barycentric)
    weights = torch.zeros(len(needed), len(corners), dtype=barycentric.dtype)
    points = torch.arange(len(corners))
    for k in range(3):
        weights.index_put_((corner_index[:, k], points), barycentric[:, k], accumulate=True)
    return near.reshape(-1), incidence, weights


def visibility_scores(
    vertices: torch.Tensor,
    triangles: torch.Tensor,
    point_triangles: torch.Tensor,
    barycentric: torch.Tensor,
    plan: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The method's visibility v_i = N_c . N_i with N_c = (0, 0, 1): the z of the area-weighted
    unit vertex normals interpolated at each embedded point (and normalised). (B, V, 3) ->
    (B, K); visible where > 0. ``plan``: :func:`point_normal_plan` of the same triangles,
    points and weights, computed here when not given (pass it when calling often)."""
    near, incidence, weights = plan or point_normal_plan(triangles, point_triangles, barycentric)
    corners = vertices.index_select(1, near).view(vertices.shape[0], -1, 3, 3)  # (B, T', 3, 3)
    v0 = corners[:, :, 0]
    weighted = torch.cross(corners[:, :, 1] - v0, corners[:, :, 2] - v0, dim=-1)  # 2 * area
    normals = torch.matmul(weighted.transpose(1, 2), incidence.to(vertices.dtype))  # (B, 3, C)
    normals = normals / torch.linalg.vector_norm(normals, dim=1, keepdim=True).clamp_min(1e-12)
    at_points = torch.matmul(normals, weights.to(vertices.dtype))  # (B, 3, K)
    return at_points[:, 2] / torch.linalg.vector_norm(at_points, dim=1).clamp_min(1e-12)


def extract_patches(
    images: torch.Tensor, centres: torch.Tensor, patch_size: int, patch_extent: float
) -> torch.Tensor:
    """Square patches around points, bilinearly sampled (zeros outside the image).

    images (B, C, S, S); centres (B, K, 2) in crop pixels (pixel centres at integers);
    patch_extent: the patch side in crop pixels; returns (B, K, C, patch_size, patch_size).
    """
    b, c, h, w = images.shape
    k = centres.shape[1]
    offsets = (
        torch.arange(patch_size, dtype=images.dtype, device=images.device) - (patch_size - 1) / 2.0
    ) * (patch_extent / patch_size)
    oy, ox = torch.meshgrid(offsets, offsets, indexing="ij")
    px = centres[..., 0, None, None] + ox  # (B, K, P, P)
    py = centres[..., 1, None, None] + oy
    # align_corners=True: -1 and 1 are the centres of the first and last pixels
    grid = torch.stack([px / (w - 1) * 2 - 1, py / (h - 1) * 2 - 1], -1)
    grid = grid.reshape(b, k * patch_size, patch_size, 2)
    patches = F.grid_sample(
        images, grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )  # (B, C, K*P, P)
    return patches.reshape(b, c, k, patch_size, patch_size).permute(0, 2, 1, 3, 4)


def modified_shape_indexed_features(
    images: torch.Tensor,
    keypoints_2d: torch.Tensor,
    visible: torch.Tensor,
    patch_size: int,
    patch_extent: float,
) -> torch.Tensor:
    """MSIF of the method: patches around the 2D keypoints, all zero where a keypoint is
    invisible. images (B, C, S, S), keypoints_2d (B, K, 2) crop pixels, visible (B, K) bool
    -> (B, K, C, P, P)."""
    patches = extract_patches(images, keypoints_2d, patch_size, patch_extent)
    return patches * visible[:, :, None, None, None].to(patches.dtype)
