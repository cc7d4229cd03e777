"""``mtface data synthesize``: turn teacher labels into a large-pose training set.

For every labelled face, ``variants`` views: the original and rotated ones (face profiling). The
target yaw is drawn so that the three |yaw| bins get equal shares; a face turned more than 12
degrees is only rotated further the same way (the cheek it hides has no texture to show). Small
pitch and roll changes are added. The set is stored in the format of ``core/data/sampleset.py``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mtface.core.data.labels import LabelSet
from mtface.core.data.overlay import remove_drawn_overlay
from mtface.core.data.profiling import profile_face, working_crop
from mtface.core.data.sampleset import SampleSetWriter
from mtface.core.imageio import ImageLoadError, load_image
from mtface.core.topology import Topology

YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))


def sample_delta(
    source_yaw: float, rng: np.random.Generator, bin_index: int
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


def synthesize(
    labels: LabelSet,
    out_dir: Path,
    variants: int = 8,
    work_size: int = 160,
    context: float = 2.2,
    seed: int = 0,
) -> int:
    """Write the profiled set of ``labels`` into ``out_dir``; returns the number of samples."""
    topology = Topology.load()
    rng = np.random.default_rng(seed)
    clean = labels.manifest.get("preprocess") == "remove_drawn_overlay"
    writer = SampleSetWriter(out_dir, len(labels) * variants, work_size, topology.num_vertices)
    for i in tqdm(range(len(labels)), desc="synthesis", unit="face", file=sys.stderr):
        try:
            image = load_image(labels.images_root / str(labels.paths[i]))
        except ImageLoadError as exc:
            tqdm.write(f"skipped: {exc}", file=sys.stderr)
            continue
        if clean:
            image = remove_drawn_overlay(image)
        crop, verts = working_crop(image, labels.vertices[i].astype(np.float64), work_size, context)
        base_pose = tuple(float(a) for a in labels.pose[i])
        for j in range(variants):
            if j == 0:
                delta = (0.0, 0.0, 0.0)
            else:
                delta = sample_delta(base_pose[1], rng, (j - 1) % 3)
            sample = profile_face(crop, verts, base_pose, delta, topology)
            writer.add(sample.image, sample.vertices, sample.pose, i)
    return writer.close(
        {
            "variants": variants,
            "work_size": work_size,
            "context": context,
            "seed": seed,
            "labels": labels.manifest,
            "yaw_bins": YAW_BINS,
        }
    )


@dataclass(frozen=True)
class LargePoseView:
    """One large-pose view of a labelled photo: ``image`` RGB uint8, its exact 2D landmarks
    ``landmarks`` (68, 2) in the view's pixels and its pose ``pose`` (pitch, yaw, roll) degrees
    (``Pose_Para`` convention)."""

    image: np.ndarray
    landmarks: np.ndarray
    pose: np.ndarray


def held_out_views(
    label_folder: Path,
    topology: Topology,
    views: int = 2,
    work_size: int = 320,
    seed: int = 1,
    limit: int = 0,
) -> list[LargePoseView]:
    """``views`` large-pose views of each held-out photo of a label folder (the ``val.txt``
    split of ``mtface data import-annotations``; the first ``limit`` when > 0), drawn as
    ``synthesize`` draws them (target |yaw| in (30,60] and (60,90] alternately, with
    background): for choosing the predictor's treatment of turned faces on training-side
    photos (tools/)."""
    from mtface.core.data.labels import load_human_labels

    labels, held_out = load_human_labels(label_folder)
    photos = np.flatnonzero(held_out)
    if limit:
        photos = photos[:limit]
    rng = np.random.default_rng(seed)
    out = []
    for n, i in enumerate(photos):
        image = load_image(labels.images_root / str(labels.paths[i]))
        crop, verts = working_crop(image, labels.vertices[i].astype(np.float64), work_size, 2.2)
        base = tuple(float(a) for a in labels.pose[i])
        for v in range(views):
            delta = sample_delta(base[1], rng, 1 + (n * views + v) % 2)
            sample = profile_face(crop, verts, base, delta, topology)
            truth = topology.landmarks_from_vertices(sample.vertices.astype(np.float64))[:, :2]
            out.append(LargePoseView(sample.image, truth, np.asarray(sample.pose, np.float64)))
    return out


def add_view_arguments(parser: argparse.ArgumentParser, views: int = 2, seed: int = 1) -> None:
    """The options of the tools that draw ``held_out_views``: ``--labels``, ``--views``,
    ``--work-size``, ``--seed``, ``--limit`` (``views_from_arguments`` reads them)."""
    parser.add_argument("--labels", type=Path, default=Path("data_cache/w300_labels"))
    parser.add_argument("--views", type=int, default=views)
    parser.add_argument("--work-size", type=int, default=320)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos")


def views_from_arguments(args: argparse.Namespace, topology: Topology) -> list[LargePoseView]:
    """``held_out_views`` as ``add_view_arguments``'s options ask."""
    return held_out_views(args.labels, topology, args.views, args.work_size, args.seed, args.limit)
