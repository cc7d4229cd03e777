"""On-disk format of teacher labels (documented in docs/formats.md).

A label folder holds ``manifest.json`` and shards ``shard-NNNNN.npz``. Each shard has, for N
faces: ``paths`` (N,) image paths relative to the manifest's ``images_root``; ``identity`` (N,)
the person (the image's parent folder); ``vertices`` (N, V, 3) float32 image pixels (x right,
y down, z toward the viewer, centroid z = 0); ``pose`` (N, 3) float32 degrees (pitch, yaw, roll);
``quality`` (N,) float32 flip disagreement / face size (lower is better); ``box`` (N, 4) float32.
Label folders made from human annotations (``mtface data import-annotations``) also hold
``human_landmarks`` (N, 68, 2) the annotated points, ``human_visible`` (N, 68) bool and
``teacher_vertices`` (N, V, 3) the mesh before it was fitted to them.
The manifest records the provenance: teacher, topology, source folder and its licence, date.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.formats.atomic import atomic_write, atomic_write_json

FORMAT = "mtface-labels/1"
SHARD_SIZE = 1000
_OPTIONAL = ("human_landmarks", "human_visible", "teacher_vertices")


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
    human_landmarks: np.ndarray | None = None
    human_visible: np.ndarray | None = None
    teacher_vertices: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: np.ndarray) -> LabelSet:
        def part(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[index]

        return LabelSet(
            self.images_root,
            self.paths[index],
            self.identity[index],
            self.vertices[index],
            self.pose[index],
            self.quality[index],
            self.box[index],
            self.manifest,
            part(self.human_landmarks),
            part(self.human_visible),
            part(self.teacher_vertices),
        )

    def split_by_identity(self, val_fraction: float = 0.1) -> tuple[LabelSet, LabelSet]:
        """Deterministic split (:func:`is_validation_identity`). No person is in both parts."""
        val = np.array(
            [is_validation_identity(str(n), val_fraction) for n in self.identity], dtype=bool
        )
        return self.subset(np.nonzero(~val)[0]), self.subset(np.nonzero(val)[0])


def is_validation_identity(name: str, val_fraction: float) -> bool:
    """A person (or photo) goes to validation when the SHA-1 of its name falls in the first
    ``val_fraction`` of the hash range: the same answer on every machine and every run."""
    digest = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
    return digest < val_fraction * 0xFFFFFFFF


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

    def add(
        self,
        path: Path,
        identity: str,
        vertices: np.ndarray,
        pose: tuple[float, ...],
        quality: float,
        box: tuple[float, ...],
        extra: dict[str, np.ndarray] | None = None,
    ) -> None:
        """One face; ``extra`` holds the optional per-face arrays of the module docstring."""
        self.rows.append(
            {
                "paths": str(Path(path).resolve().relative_to(self.images_root)),
                "identity": identity,
                "vertices": vertices,
                "pose": pose,
                "quality": quality,
                "box": box,
                **(extra or {}),
            }
        )
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
        for key in _OPTIONAL:
            if key in self.rows[0]:
                arrays[key] = np.stack([r[key] for r in self.rows])

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays)

        atomic_write(self.out_dir / name, write)
        self.shards.append(name)
        self.count += len(self.rows)
        self.rows = []

    def close(self) -> Path:
        self._flush()
        manifest = {
            "format": FORMAT,
            "images_root": str(self.images_root),
            "shards": self.shards,
            "count": self.count,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            **self.provenance,
        }
        return atomic_write_json(self.out_dir / "manifest.json", manifest, indent=2)


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
    return LabelSet(
        Path(manifest["images_root"]),
        cat["paths"],
        cat["identity"],
        cat["vertices"],
        cat["pose"],
        cat["quality"],
        cat["box"],
        manifest,
        *(cat.get(key) for key in _OPTIONAL),
    )


#: The held-out share of photos when a human label folder does not record its own.
DEFAULT_HUMAN_VAL_FRACTION = 0.2


def load_human_labels(folder: Path) -> tuple[LabelSet, np.ndarray]:
    """A label folder of ``mtface data import-annotations`` and its held-out mask (N,) bool
    (the same photo split as its ``val.txt``). ValueError when it holds no human landmarks."""
    labels = load_labels(folder)
    if labels.human_landmarks is None:
        raise ValueError(
            f"{folder}: no human landmarks (not made by mtface data import-annotations)"
        )
    fraction = float(labels.manifest.get("val_fraction", DEFAULT_HUMAN_VAL_FRACTION))
    held_out = np.array([is_validation_identity(str(i), fraction) for i in labels.identity])
    return labels, held_out
