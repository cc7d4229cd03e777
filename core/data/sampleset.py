"""The on-disk training set format (``mtface-synthetic/1``) and its writer.

A folder with ``images.npy`` (N, S, S, 3) uint8 working crops, ``vertices.npy`` (N, V, 3)
float32 in those crops' pixels (mtface axes), ``pose.npy`` (N, 3) degrees (pitch, yaw, roll),
``source.npy`` (N,) index of the source face, and ``meta.json`` (format, provenance,
parameters). ``core.training.dataset.SyntheticFaces`` reads it; ``mtface data synthesize`` and
``mtface data import-3dmm`` write it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mtface.core.formats.atomic import atomic_write_set, text_writer

FORMAT = "mtface-synthetic/1"


class SampleSetWriter:
    """Appends samples to a new set; :meth:`close` writes it (only what was added) as one set
    of files (core.formats.atomic.atomic_write_set): an earlier set in the folder stays intact
    until every new file is on disk, and ``meta.json`` is renamed into place last."""

    def __init__(self, out_dir: Path, capacity: int, size: int, num_vertices: int) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".images.", suffix=".npy.tmp", dir=self.out_dir)
        os.close(fd)
        self._images_tmp = Path(name)
        self._images = np.lib.format.open_memmap(
            self._images_tmp, mode="w+", dtype=np.uint8, shape=(max(capacity, 1), size, size, 3)
        )
        self._vertices = np.zeros((max(capacity, 1), num_vertices, 3), np.float32)
        self._pose = np.zeros((max(capacity, 1), 3), np.float32)
        self._source = np.zeros(max(capacity, 1), np.int64)
        self.count = 0

    def add(
        self, image: np.ndarray, vertices: np.ndarray, pose: np.ndarray | tuple, source: int
    ) -> None:
        k = self.count
        self._images[k] = image
        self._vertices[k] = vertices
        self._pose[k] = pose
        self._source[k] = source
        self.count += 1

    def close(self, meta: dict) -> int:
        """Write the arrays and ``meta.json`` (with ``format`` and ``count``); returns N.
        Raises SaveError (the folder's earlier files intact) when they cannot be written."""
        k = self.count
        try:
            self._images.flush()
            del self._images
            full = np.load(self._images_tmp, mmap_mode="r")
            meta_text = json.dumps({"format": FORMAT, "count": k, **meta}, indent=2)
            atomic_write_set(
                [
                    (self.out_dir / "images.npy", _npy_writer(full[:k])),
                    (self.out_dir / "vertices.npy", _npy_writer(self._vertices[:k])),
                    (self.out_dir / "pose.npy", _npy_writer(self._pose[:k])),
                    (self.out_dir / "source.npy", _npy_writer(self._source[:k])),
                    (self.out_dir / "meta.json", text_writer(meta_text)),
                ]
            )
            del full
        finally:
            self._images_tmp.unlink(missing_ok=True)
        return k


def _npy_writer(array: np.ndarray) -> Callable[[Path], None]:
    return lambda tmp: np.save(tmp, array)
