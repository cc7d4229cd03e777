"""iBUG ``.pts`` landmark files.

Convention (docs/adr/0002-pts-one-based.md): coordinates on disk are 1-BASED, as in the 300-W
originals and as menpo reads them (it subtracts 1); mtface's arrays are 0-based pixel centres, so
writing adds 1 and reading subtracts 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtface.core.formats.atomic import atomic_write_text


class AnnotationFormatError(ValueError):
    """A malformed annotation file; the message names the file and the problem."""


def format_pts(points: np.ndarray) -> str:
    """Text of a .pts file for points (N, 2) in 0-based pixels. Raises ValueError for NaN or
    infinite points (read_pts would reject the file)."""
    points = np.asarray(points, dtype=float)[:, :2]
    if not np.isfinite(points).all():
        raise ValueError("refusing to write a .pts file with NaN or infinite points")
    lines = ["version: 1", f"n_points: {len(points)}", "{"]
    lines += [f"{x + 1:.3f} {y + 1:.3f}" for x, y in points]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_pts(path: Path, points: np.ndarray) -> Path:
    return atomic_write_text(path, format_pts(points))


def read_pts(path: Path) -> np.ndarray:
    """Points (N, 2) in 0-based pixels. Raises AnnotationFormatError when malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationFormatError(f"{path}: cannot read ({exc})") from exc
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    try:
        n_line = next(ln for ln in lines if ln.lower().startswith("n_points"))
        count = int(n_line.split(":", 1)[1])
        start, end = lines.index("{"), lines.index("}")
        rows = [ln.split() for ln in lines[start + 1 : end]]
        points = np.array([[float(a), float(b)] for a, b in rows], dtype=np.float64)
    except (StopIteration, ValueError, IndexError) as exc:
        raise AnnotationFormatError(f"{path}: not a valid .pts file ({exc})") from exc
    if points.shape != (count, 2):
        raise AnnotationFormatError(
            f"{path}: the header says {count} points, the file holds {points.shape[0]}"
        )
    bad = np.nonzero(~np.isfinite(points).all(axis=1))[0]
    if len(bad):
        raise AnnotationFormatError(
            f"{path}: point {bad[0] + 1} is NaN or infinite ({len(bad)} such point(s))"
        )
    return points - 1.0
