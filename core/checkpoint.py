"""Saving and loading cascade weights (``mtface-cascade/1`` files).

A file holds the model config, the topology it was trained with, the state dict (fp16 for the
shipped model, fp32 in training checkpoints) and free-form metadata. Loading checks all of it and
raises WeightsError with a message that says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mtface.core.model import CascadeConfig, CascadeMTCNN
from mtface.core.resources import resource_path
from mtface.core.topology import Topology
from mtface.core.weights import WeightsError, verify_checksum

FORMAT = "mtface-cascade/1"
DEFAULT_WEIGHTS = ("models", "mtface_default.pt")


def default_weights_path() -> Path:
    return resource_path(*DEFAULT_WEIGHTS)


def save_cascade(model: CascadeMTCNN, path: Path, meta: dict | None = None,
                 half: bool = False, extra: dict | None = None) -> None:
    """Write a weights file atomically (temp file, then rename)."""
    state = {k: (v.half() if half and v.is_floating_point() else v)
             for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "config": model.config.to_dict(), "state_dict": state,
               "meta": meta or {}, **(extra or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_payload(path: Path) -> dict:
    verify_checksum(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling error means an unusable file
        raise WeightsError(f"cannot read weights {path}: the file is corrupt or not an mtface "
                           f"weights file ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path} is not an mtface cascade weights file")
    return payload


def load_cascade(path: Path | None = None, topology: Topology | None = None
                 ) -> tuple[CascadeMTCNN, dict]:
    """Load a cascade (default: the shipped model) in eval mode; returns (model, meta)."""
    path = Path(path) if path is not None else default_weights_path()
    if not path.exists():
        raise WeightsError(f"weights file not found: {path}"
                           + (" (the default model ships in resources/models; reinstall mtface)"
                              if path == default_weights_path() else ""))
    payload = load_payload(path)
    topology = topology or Topology.load()
    try:
        config = CascadeConfig.from_dict(payload["config"])
        model = CascadeMTCNN(config, topology)
        state = {k: v.float() if v.is_floating_point() else v
                 for k, v in payload["state_dict"].items()}
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"weights {path} do not fit the model: {exc}") from exc
    return model.eval(), payload.get("meta", {})
