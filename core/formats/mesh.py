"""Mesh export (.obj / .ply) through trimesh; vertices in image pixels (y down, z to viewer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from mtface.core.formats.atomic import atomic_write_bytes

MESH_FORMATS = ("obj", "ply")


def mesh_bytes(
    vertices: np.ndarray, triangles: np.ndarray, file_type: str, uv: np.ndarray | None = None
) -> bytes:
    """Encode a mesh. OBJ carries the UVs (``vt``, v measured from the bottom as OBJ expects)
    and no material file; PLY (binary, via trimesh) carries vertices and faces."""
    if file_type not in MESH_FORMATS:
        raise ValueError(f"unknown mesh format {file_type!r}; use one of {MESH_FORMATS}")
    vertices = np.asarray(vertices, float)
    triangles = np.asarray(triangles, int)
    if not np.isfinite(vertices).all():
        raise ValueError("refusing to write a mesh with NaN or infinite vertices")
    if file_type == "obj":
        lines = ["# mtface mesh: image pixels, x right, y down, z toward the viewer"]
        lines += [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in vertices]
        if uv is not None:
            lines += [f"vt {u:.6f} {1.0 - v:.6f}" for u, v in uv]
            lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in triangles + 1]
        else:
            lines += [f"f {a} {b} {c}" for a, b, c in triangles + 1]
        return ("\n".join(lines) + "\n").encode()
    mesh = trimesh.Trimesh(vertices, triangles, process=False)
    return mesh.export(file_type="ply")


def write_mesh(
    path: Path, vertices: np.ndarray, triangles: np.ndarray, uv: np.ndarray | None = None
) -> Path:
    """Write ``path`` (.obj or .ply by suffix) atomically."""
    path = Path(path)
    return atomic_write_bytes(
        path, mesh_bytes(vertices, triangles, path.suffix.lstrip(".").lower(), uv)
    )
