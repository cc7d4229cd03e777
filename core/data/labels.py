"""On-disk format of teacher labels (documented in docs/formats.md).

A label folder holds ``manifest.json`` and shards ``shard-NNNNN.npz``. Each shard has, for N
faces: ``paths`` (N,) image paths relative to the manifest's ``images_root``; ``identity`` (N,)
the person (the image's parent folder); ``vertices`` (N, V, 3) float32 image pixels (x right,
y down, z toward the viewer, centroid z = 0); ``pose`` (N, 3) float32 degrees (pitch, yaw, roll);
``quality`` (N,) float32 flip disagreement / face size (lower is better); ``box`` (N, 4) float32.
The manifest records the provenance: teacher, topology, source folder and its licence, date.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "mtface-labels/1"
SHARD_SIZE = 1000


@dataclass
class LabelSet:
    """All labels of a folder, concatenated. Arrays as in the module docstring."""

    images_root: Path
    paths: np.ndarray
    identity: np.ndarray
    vertices: np.ndarray
    pose: np.ndarray
    quality: np.ndarray
    box: np.ndarray
    manifest: dict

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: np.ndarray) -> "LabelSet":
        return LabelSet(self.images_root, self.paths[index], self.identity[index],
                        self.vertices[index], self.pose[index], self.quality[index],
                        self.box[index], self.manifest)

    def split_by_identity(self, val_fraction: float = 0.1) -> tuple["LabelSet", "LabelSet"]:
        """Deterministic split: a person goes to validation when the SHA-1 of their name falls
        in the first ``val_fraction`` of the hash range. No person is in both parts."""
        def is_val(name: str) -> bool:
            digest = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
            return digest < val_fraction * 0xFFFFFFFF

        val = np.array([is_val(str(n)) for n in self.identity], dtype=bool)
        return self.subset(np.nonzero(~val)[0]), self.subset(np.nonzero(val)[0])


class LabelWriter:
    """Collects labels and writes them in shards, then the manifest (each file atomically)."""

    def __init__(self, out_dir: Path, images_root: Path, provenance: dict) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.images_root = Path(images_root).resolve()
        self.provenance = provenance
        self.rows: list[dict] = []
        self.shards: list[str] = []
        self.count = 0

    def add(self, path: Path, identity: str, vertices: np.ndarray, pose: tuple[float, ...],
            quality: float, box: tuple[float, ...]) -> None:
        self.rows.append({"paths": str(Path(path).resolve().relative_to(self.images_root)),
                          "identity": identity, "vertices": vertices, "pose": pose,
                          "quality": quality, "box": box})
        if len(self.rows) >= SHARD_SIZE:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        name = f"shard-{len(self.shards):05d}.npz"
        arrays = {
            "paths": np.array([r["paths"] for r in self.rows]),
            "identity": np.array([r["identity"] for r in self.rows]),
            "vertices": np.stack([r["vertices"] for r in self.rows]).astype(np.float32),
            "pose": np.array([r["pose"] for r in self.rows], dtype=np.float32),
            "quality": np.array([r["quality"] for r in self.rows], dtype=np.float32),
            "box": np.array([r["box"] for r in self.rows], dtype=np.float32),
        }
        tmp = self.out_dir / (name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, self.out_dir / name)
        self.shards.append(name)
        self.count += len(self.rows)
        self.rows = []

    def close(self) -> Path:
        self._flush()
        manifest = {"format": FORMAT, "images_root": str(self.images_root),
                    "shards": self.shards, "count": self.count,
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    **self.provenance}
        path = self.out_dir / "manifest.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, path)
        return path


def load_labels(folder: Path) -> LabelSet:
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{folder}: not a label folder ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{folder}: unknown label format {manifest.get('format')!r}")
    parts: dict[str, list[np.ndarray]] = {}
    for shard in manifest["shards"]:
        with np.load(folder / shard) as data:
            for key in data.files:
                parts.setdefault(key, []).append(data[key])
    if not parts:
        raise ValueError(f"{folder}: the label folder holds no faces")
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return LabelSet(Path(manifest["images_root"]), cat["paths"], cat["identity"],
                    cat["vertices"], cat["pose"], cat["quality"], cat["box"], manifest)
