"""Paths of the files that ship in ``resources/`` (weights, topology, sample image)."""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Absolute path of a bundled resource, e.g. ``resource_path('topology', 'x.npz')``."""
    base = Path(str(_resources.files("mtface.resources")))
    return base.joinpath(*parts)
