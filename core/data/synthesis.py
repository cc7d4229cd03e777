"""``mtface data synthesize``: turn teacher labels into a large-pose training set.

For every labelled face, ``variants`` views: the original and rotated ones (face profiling). The
target yaw is drawn so that the three |yaw| bins get equal shares; a face turned more than 12
degrees is only rotated further the same way (the cheek it hides has no texture to show). Small
pitch and roll changes are added. The set is stored as ``images.npy`` (N, S, S, 3) uint8,
``vertices.npy`` (N, V, 3) float32 in those pixels, ``pose.npy`` (N, 3) degrees, ``source.npy``
(N,) index of the labelled face, and ``meta.json`` (provenance, parameters).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mtface.core.data.labels import LabelSet
from mtface.core.data.overlay import remove_drawn_overlay
from mtface.core.data.profiling import profile_face, working_crop
from mtface.core.imageio import ImageLoadError, load_image
from mtface.core.topology import Topology

YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))


def sample_delta(source_yaw: float, rng: np.random.Generator, bin_index: int
                 ) -> tuple[float, float, float]:
    """Rotation (pitch, yaw, roll) degrees that takes a face of ``source_yaw`` into a yaw bin."""
    low, high = YAW_BINS[bin_index]
    magnitude = rng.uniform(low, high)
    if abs(source_yaw) > 12.0:
        magnitude = max(magnitude, abs(source_yaw))
        target = np.sign(source_yaw) * magnitude
    else:
        target = magnitude * rng.choice([-1.0, 1.0])
    return (float(rng.uniform(-12, 12)), float(target - source_yaw), float(rng.uniform(-20, 20)))


def synthesize(labels: LabelSet, out_dir: Path, variants: int = 8, work_size: int = 160,
               context: float = 2.2, seed: int = 0) -> int:
    """Write the profiled set of ``labels`` into ``out_dir``; returns the number of samples."""
    topology = Topology.load()
    rng = np.random.default_rng(seed)
    clean = labels.manifest.get("preprocess") == "remove_drawn_overlay"
    n = len(labels) * variants
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = np.lib.format.open_memmap(out_dir / "images.npy.tmp", mode="w+", dtype=np.uint8,
                                       shape=(n, work_size, work_size, 3))
    vertices = np.zeros((n, topology.num_vertices, 3), np.float32)
    pose = np.zeros((n, 3), np.float32)
    source = np.zeros(n, np.int64)
    k = 0
    for i in tqdm(range(len(labels)), desc="synthesis", unit="face", file=sys.stderr):
        try:
            image = load_image(labels.images_root / str(labels.paths[i]))
        except ImageLoadError as exc:
            tqdm.write(f"skipped: {exc}", file=sys.stderr)
            continue
        if clean:
            image = remove_drawn_overlay(image)
        crop, verts = working_crop(image, labels.vertices[i].astype(np.float64), work_size,
                                   context)
        base_pose = tuple(float(a) for a in labels.pose[i])
        for j in range(variants):
            if j == 0:
                delta = (0.0, 0.0, 0.0)
            else:
                delta = sample_delta(base_pose[1], rng, (j - 1) % 3)
            sample = profile_face(crop, verts, base_pose, delta, topology)
            images[k] = sample.image
            vertices[k] = sample.vertices
            pose[k] = sample.pose
            source[k] = i
            k += 1
    images.flush()
    del images
    # shrink to the samples actually written
    full = np.load(out_dir / "images.npy.tmp", mmap_mode="r")
    np.save(out_dir / "images.npy", full[:k])
    del full
    (out_dir / "images.npy.tmp").unlink()
    np.save(out_dir / "vertices.npy", vertices[:k])
    np.save(out_dir / "pose.npy", pose[:k])
    np.save(out_dir / "source.npy", source[:k])
    (out_dir / "meta.json").write_text(json.dumps({
        "format": "mtface-synthetic/1", "count": k, "variants": variants,
        "work_size": work_size, "context": context, "seed": seed,
        "labels": labels.manifest, "yaw_bins": YAW_BINS}, indent=2))
    return k
