"""Checksummed weight files: every file under resources/ that holds weights has a line
``<sha256>  <relative path>`` in ``resources/SHA256SUMS``; loading verifies it."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


def verify_checksum(path: Path) -> None:
    """Raise WeightsError when ``path`` is missing, or is a bundled resource whose SHA-256
    differs from resources/SHA256SUMS. Files outside resources/ (a user's own checkpoints) are
    only checked for existence; their loader checks the content."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        relative = path.resolve().relative_to(resource_path().resolve()).as_posix()
    except ValueError:
        return
    expected = _known_checksums().get(relative)
    if expected is not None and sha256_of(path) != expected:
        raise WeightsError(f"weights file {path} is corrupt (SHA-256 differs from "
                           f"resources/SHA256SUMS); reinstall mtface or restore the file")


def write_checksums() -> Path:
    """(Re)write resources/SHA256SUMS for every .pt/.npz under resources/."""
    root = resource_path()
    lines = [f"{sha256_of(p)}  {p.relative_to(root).as_posix()}"
             for p in sorted(root.rglob("*")) if p.suffix in (".pt", ".npz")]
    out = root / "SHA256SUMS"
    out.write_text("\n".join(lines) + "\n")
    return out
