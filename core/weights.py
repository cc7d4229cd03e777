"""Checksummed weight files.

Every file under resources/ that holds weights has a line ``<sha256>  <relative path>`` in
``resources/SHA256SUMS``; loading verifies it. Cascade weights files also carry their own
checksum (:func:`state_checksum`, stored at export and checked on load by core.checkpoint), so
a user's file with bit-rot is refused too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import torch

from mtface.core.resources import resource_path


class WeightsError(RuntimeError):
    """Weights are missing, corrupt or do not fit the model."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _known_checksums() -> dict[str, str]:
    sums = resource_path("SHA256SUMS")
    if not sums.exists():
        return {}
    table = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            table[name.strip()] = digest
    return table


def bundled_name(path: Path) -> str | None:
    """``path`` relative to resources/ (``models/mtface_default.pt``), None outside it."""
    try:
        return Path(path).resolve().relative_to(resource_path().resolve()).as_posix()
    except ValueError:
        return None


def verify_checksum(path: Path) -> bool:
    """Raise WeightsError when ``path`` is missing, or is a bundled resource whose SHA-256
    differs from resources/SHA256SUMS. Returns True when the file matched a line of
    SHA256SUMS. Files outside resources/ (a user's own checkpoints) are only checked for
    existence here; their loader checks the embedded checksum and the content."""
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a folder, expected a model file (.pt)")
    if not path.is_file():
        raise WeightsError(f"model file not found: {path}")
    relative = bundled_name(path)
    if relative is None:
        return False
    expected = _known_checksums().get(relative)
    if expected is None:
        return False
    if sha256_of(path) != expected:
        raise WeightsError(
            f"weights file {path} is corrupt (SHA-256 differs from "
            f"resources/SHA256SUMS); reinstall mtface or restore the file"
        )
    return True


def verify_bundled() -> None:
    """Check every bundled file listed in resources/SHA256SUMS that is present (the detector,
    the topology, the shipped model); raises WeightsError naming a corrupt one."""
    root = resource_path()
    try:
        table = _known_checksums()
    except (OSError, ValueError) as exc:
        raise WeightsError(f"resources/SHA256SUMS is unreadable ({exc}); reinstall mtface") from exc
    for name, digest in table.items():
        path = root / name
        if path.is_file() and sha256_of(path) != digest:
            raise WeightsError(
                f"the bundled file resources/{name} is corrupt (SHA-256 differs "
                "from resources/SHA256SUMS); reinstall mtface or restore it"
            )


def state_checksum(config: Mapping, state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a cascade's config and every tensor (name, dtype, shape, bytes): the checksum
    stored inside weights files. Independent of how torch lays out the file."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for name in sorted(state_dict):
        tensor = state_dict[name]
        if not isinstance(tensor, torch.Tensor):
            raise WeightsError(f"state entry {name!r} is not a tensor")
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def payload_checksum(payload: Mapping) -> str:
    """SHA-256 of everything in a model file's payload except its ``checksum`` entry: every
    nested dict (keys sorted), list, tensor (name, dtype, shape, bytes) and plain value (JSON),
    so metadata, the 2D refiner and the 3d offsets are covered as well as the weights
    (``mtface-model/2``, core/model_file.py). Independent of how torch lays out the file."""
    digest = hashlib.sha256()
    _feed(digest, "", {k: v for k, v in payload.items() if k != "checksum"})
    return digest.hexdigest()


def _feed(digest: hashlib._Hash, key: str, value: object) -> None:
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}|tensor|{flat.dtype}|{tuple(value.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    elif isinstance(value, Mapping):
        digest.update(f"{key}|dict|{len(value)}|".encode())
        for name in sorted(value, key=str):
            _feed(digest, f"{key}/{name}", value[name])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{key}|list|{len(value)}|".encode())
        for i, item in enumerate(value):
            _feed(digest, f"{key}[{i}]", item)
    else:
        digest.update(f"{key}|{json.dumps(value, default=str)}|".encode())


#: What resources/SHA256SUMS covers: the weights and tables (.pt, .npz) anywhere under
#: resources/ and the detector's calibration files (detector/*.json); not the editable configs.
CHECKSUMMED_PATTERNS = ("**/*.pt", "**/*.npz", "detector/*.json")


def write_checksums() -> Path:
    """(Re)write resources/SHA256SUMS (atomically) for every file ``CHECKSUMMED_PATTERNS``
    names under resources/."""
    from mtface.core.formats.atomic import atomic_write_text

    root = resource_path()
    paths = {p for pattern in CHECKSUMMED_PATTERNS for p in root.glob(pattern)}
    lines = [
        f"{sha256_of(p)}  {p.relative_to(root).as_posix()}"
        for p in sorted(paths)
        if p.is_file() and not p.name.startswith(".")
    ]
    return atomic_write_text(root / "SHA256SUMS", "\n".join(lines) + "\n")
