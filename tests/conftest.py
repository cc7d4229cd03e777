"""Shared fixtures. Tests that need ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MTFACE_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture(scope="session")
def topology():
    from mtface.core.topology import Topology

    return Topology.load()


@pytest.fixture(scope="session")
def sample_image() -> np.ndarray:
    from mtface.core.imageio import load_image
    from mtface.core.resources import resource_path

    return load_image(resource_path("samples", "astronaut.jpg"))


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, topology) -> Path:
    """An untrained cascade saved as a weights file (for tests where accuracy is irrelevant)."""
    from mtface.core.checkpoint import save_cascade
    from mtface.core.model import CascadeConfig, CascadeMTCNN

    torch_seed = 0

    torch.manual_seed(torch_seed)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_cascade(CascadeMTCNN(CascadeConfig(), topology), path, {"note": "untrained"})
    return path
