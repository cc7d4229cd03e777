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


def vertex_face_incidence(triangles: torch.Tensor, num_vertices: int) -> torch.Tensor:
    """(V, T) float matrix with 1 where vertex v is a corner of triangle t."""
    incidence = torch.zeros(num_vertices, len(triangles))
    columns = torch.arange(len(triangles))
    for k in range(3):
        incidence[triangles[:, k], columns] = 1.0
    return incidence


def vertex_normals(
    vertices: torch.Tensor, triangles: torch.Tensor, incidence: torch.Tensor | None = None
) -> torch.Tensor:
    """Area-weighted unit vertex normals. vertices (B, V, 3), triangles (T, 3) long -> (B, V, 3).

    With the topology's winding, a frontal face in image axes (x right, y down, z to the viewer)
    has normals with positive z. With ``incidence`` (V, T) from :func:`vertex_face_incidence`
    the accumulation is a matrix product, which exports to ONNX (index_add does not) but is
    slower on the CPU (0.6 vs 0.2 ms per call measured), so it is used for export only.
    """
    v0, v1, v2 = (vertices[:, triangles[:, k]] for k in range(3))
    weighted = torch.cross(v1 - v0, v2 - v0, dim=-1)  # (B, T, 3), length = 2 * area
    if incidence is not None:
        normals = torch.matmul(incidence.to(vertices.dtype), weighted)
    else:
        normals = torch.zeros_like(vertices)
        for k in range(3):
            normals.index_add_(1, triangles[:, k], weighted)
    return F.normalize(normals, dim=-1, eps=1e-12)


def visibility_scores(
    vertices: torch.Tensor,
    triangles: torch.Tensor,
    point_triangles: torch.Tensor,
    barycentric: torch.Tensor,
    incidence: torch.Tensor | None = None,
) -> torch.Tensor:
    """The method's visibility v_i = N_c . N_i with N_c = (0, 0, 1): the z of the unit normal
    interpolated at each embedded point. (B, V, 3) -> (B, K); visible where > 0."""
    normals = vertex_normals(vertices, triangles, incidence)
    return F.normalize(
        barycentric_points(normals, triangles, point_triangles, barycentric), dim=-1
    )[..., 2]


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
