"""Saving and loading cascade weights (``mtface-cascade/1`` files).

A file holds the model config, the topology it was trained with, the state dict (fp16 for the
shipped model, fp32 in training checkpoints), free-form metadata and ``checksum``: the SHA-256
of the config and the tensors (core.weights.state_checksum), written at save time. Loading
checks all of it and raises WeightsError with a message that says what to do:

* a file with an embedded checksum must match it;
* a file without one (written before checksums were embedded) is accepted when it is a bundled
  file listed in resources/SHA256SUMS, or when it lies outside resources/ (a user's own file);
* every loaded model must give finite outputs on a test crop (bit-rot that turns weights into
  NaN or Infinity is refused even without a checksum).
"""

from __future__ import annotations

from pathlib import Path

import torch

from mtface.core.formats.atomic import atomic_write
from mtface.core.model import CascadeConfig, CascadeMTCNN
from mtface.core.resources import resource_path
from mtface.core.topology import Topology
from mtface.core.weights import (
    WeightsError,
    bundled_name,
    payload_checksum,
    state_checksum,
    verify_checksum,
)

FORMAT = "mtface-cascade/1"
#: The one-file model (weights, 2D refiner, 3d offsets, metadata; core/model_file.py): its
#: payload holds the same ``config`` and ``state_dict`` entries, so the cascade loads from
#: either format here.
MODEL_FORMAT = "mtface-model/2"
DEFAULT_WEIGHTS = ("models", "mtface_default.pt")


def default_weights_path() -> Path:
    return resource_path(*DEFAULT_WEIGHTS)


def companion_path(weights: Path | None, suffix: str) -> Path:
    """A file fitted for ``weights`` (default: the shipped model) that lies beside them:
    ``mtface_default.pt`` with ``.refine2d.npz`` -> ``mtface_default.refine2d.npz``."""
    weights = Path(weights) if weights is not None else default_weights_path()
    return weights.with_name(weights.name.rsplit(".", 1)[0] + suffix)


def save_cascade(
    model: CascadeMTCNN,
    path: Path,
    meta: dict | None = None,
    half: bool = False,
    extra: dict | None = None,
) -> None:
    """Write a weights file atomically (unique temp file, fsync, rename) with its checksum."""
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
        for k, v in model.state_dict().items()
    }
    config = model.config.to_dict()
    payload = {
        "format": FORMAT,
        "config": config,
        "state_dict": state,
        "meta": meta or {},
        **(extra or {}),
        "checksum": {"sha256": state_checksum(config, state)},
    }
    atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def load_payload(path: Path) -> dict:
    """Read and check a weights file (format, embedded checksum or SHA256SUMS)."""
    path = Path(path)
    listed = verify_checksum(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"cannot read weights {path}: the file is corrupt, truncated or not "
            f"an mtface weights file ({type(exc).__name__})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") not in (FORMAT, MODEL_FORMAT):
        raise WeightsError(f"{path} is not an mtface model file (.pt)")
    stored = payload.get("checksum")
    if stored is None and payload["format"] == MODEL_FORMAT:
        raise WeightsError(f"model file {path} has no checksum inside; it is damaged")
    if stored is not None:
        expected = stored.get("sha256") if isinstance(stored, dict) else None
        try:
            actual = (
                payload_checksum(payload)
                if payload["format"] == MODEL_FORMAT
                else state_checksum(payload.get("config", {}), payload.get("state_dict", {}))
            )
        except (AttributeError, TypeError, RuntimeError, ValueError) as exc:
            raise WeightsError(f"{path}: malformed state dict ({exc})") from exc
        if actual != expected:
            raise WeightsError(
                f"weights file {path} is corrupt (its content differs from the "
                "checksum stored in it); restore it from a backup"
            )
    elif bundled_name(path) is not None and not listed:
        raise WeightsError(
            f"bundled weights {path} have no checksum (neither inside the file "
            "nor in resources/SHA256SUMS); export them with "
            "tools/export_default_model.py"
        )
    return payload


def check_finite_outputs(model: CascadeMTCNN, path: Path) -> None:
    """Raise WeightsError unless every tensor of ``model`` and its outputs on a mid-grey test
    crop are finite."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f"weights {path} are corrupt: {name} holds NaN or Infinity")
    size = model.config.crop_size
    probe = torch.full((1, 3, size, size), 0.5)
    with torch.inference_mode():
        out = model(probe)
    tensors = [*out.keypoints, *out.vertices, *out.pose, *out.visibility]
    if not all(bool(torch.isfinite(t).all()) for t in tensors):
        raise WeightsError(f"weights {path} are corrupt: the model predicts NaN or Infinity")


def load_cascade(
    path: Path | None = None, topology: Topology | None = None
) -> tuple[CascadeMTCNN, dict]:
    """Load a cascade (default: the shipped model) in eval mode; returns (model, meta)."""
    path = Path(path) if path is not None else default_weights_path()
    if not path.exists():
        raise WeightsError(
            f"model file not found: {path}"
            + (
                " (the default model ships in resources/models; reinstall mtface)"
                if path == default_weights_path()
                else ""
            )
        )
    payload = load_payload(path)
    return cascade_from_payload(payload, path, topology), payload.get("meta", {})


def cascade_from_payload(
    payload: dict, path: Path, topology: Topology | None = None
) -> CascadeMTCNN:
    """The checked cascade (eval mode, fp32) of a payload read by :func:`load_payload`."""
    topology = topology or Topology.load()
    try:
        config = CascadeConfig.from_dict(payload["config"])
        model = CascadeMTCNN(config, topology)
        state = {
            k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()
        }
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise WeightsError(f"weights {path} do not fit the model: {exc}") from exc
    model.eval()
    check_finite_outputs(model, path)
    return model
