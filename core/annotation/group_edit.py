"""Group editing of one face's landmarks, without Qt: which points are selected (rubber band,
shift-click, a region of the face, next / previous point) and where a move, a scale or a
rotation about the selection's centroid puts them. The edits themselves are undoable session
commands (:meth:`AnnotationSession.set_points`, :meth:`AnnotationSession.delete_face`).

Coordinates are image pixels, x to the right and y down (rows), as everywhere in the studio.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: iBUG-68 regions, 0-based point indices. "right" / "left" are the person's own sides (the
#: iBUG names): the right brow and eye are on the image's left in a frontal photo.
REGIONS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "right brow": tuple(range(17, 22)),
    "left brow": tuple(range(22, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "right eye": tuple(range(36, 42)),
    "left eye": tuple(range(42, 48)),
    "mouth": tuple(range(48, 68)),
}

#: What a region key selects on repeated presses: the first press the whole region, the next
#: ones its sides in turn, then the whole region again.
REGION_CYCLES: dict[str, tuple[str, ...]] = {
    "jaw": ("jaw",),
    "brows": ("brows", "right brow", "left brow"),
    "nose": ("nose",),
    "eyes": ("eyes", "right eye", "left eye"),
    "mouth": ("mouth",),
}


def points_in_rect(
    landmarks: np.ndarray, x0: float, y0: float, x1: float, y1: float
) -> tuple[int, ...]:
    """Indices of the points of ``landmarks`` (N, 2) inside the rectangle (edges included;
    the corners may come in any order)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    lo_x, hi_x = sorted((x0, x1))
    lo_y, hi_y = sorted((y0, y1))
    inside = (pts[:, 0] >= lo_x) & (pts[:, 0] <= hi_x) & (pts[:, 1] >= lo_y) & (pts[:, 1] <= hi_y)
    return tuple(int(i) for i in np.flatnonzero(inside))


def translated(points: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``points`` (K, 2) moved by (dx, dy) pixels (a new array)."""
    return np.asarray(points, dtype=np.float64) + np.array([dx, dy])


def scaled(points: np.ndarray, factor: float) -> np.ndarray:
    """``points`` (K, 2) scaled by ``factor`` about their centroid (a new array)."""
    if not factor > 0:
        raise ValueError(f"scale factor must be positive, not {factor}")
    pts = np.asarray(points, dtype=np.float64)
    centre = pts.mean(0)
    return centre + (pts - centre) * factor


def rotated(points: np.ndarray, degrees: float) -> np.ndarray:
    """``points`` (K, 2) rotated about their centroid by ``degrees``; positive turns
    clockwise on screen (image y points down)."""
    pts = np.asarray(points, dtype=np.float64)
    centre = pts.mean(0)
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return centre + (pts - centre) @ rot.T


@dataclass
class PointSelection:
    """The selected points of the selected face (0-based indices, kept sorted) and the
    ``current`` point (the one the single-point keys act on: V, R; drawn larger)."""

    indices: tuple[int, ...] = ()
    current: int | None = None
    _region: tuple[str, int] | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return bool(self.indices)

    def __contains__(self, index: object) -> bool:
        return index in self.indices

    def clear(self) -> None:
        self.indices, self.current, self._region = (), None, None

    def set(self, indices: tuple[int, ...] | list[int], current: int | None = None) -> None:
        """Select exactly ``indices``; ``current`` defaults to the only one when one."""
        self.indices = tuple(sorted({int(i) for i in indices}))
        if current is None and len(self.indices) == 1:
            current = self.indices[0]
        self.current = current if current in self.indices else None
        self._region = None

    def add(self, indices: tuple[int, ...] | list[int]) -> None:
        self.set(set(self.indices) | {int(i) for i in indices}, self.current)

    def toggle(self, index: int) -> None:
        """Shift+click: add the point, or take it out when it is in."""
        if index in self.indices:
            self.set([i for i in self.indices if i != index], self.current)
        else:
            self.set([*self.indices, index], index)

    def region(self, name: str, count: int) -> str:
        """A region key (a key of REGION_CYCLES): the first press selects the whole region,
        repeated presses its sides in turn. Returns the name of what is now selected; points
        past ``count`` (a face with fewer points) are left out."""
        cycle = REGION_CYCLES[name]
        step = 0
        if self._region is not None and self._region[0] == name:
            step = (self._region[1] + 1) % len(cycle)
        chosen = cycle[step]
        self.set([i for i in REGIONS[chosen] if i < count])
        self._region = (name, step)
        return chosen

    def step(self, delta: int, count: int) -> int:
        """Tab / Shift+Tab: the next (+1) or previous (-1) point, wrapping around, as the only
        selected point; from nothing, the first (or last) point. Returns it."""
        if count <= 0:
            raise ValueError("the face has no points")
        if self.current is not None:
            start = self.current
        elif self.indices:
            start = self.indices[-1] if delta > 0 else self.indices[0]
        else:
            start = -1 if delta > 0 else 0
        index = (start + delta) % count
        self.set([index], index)
        return index
