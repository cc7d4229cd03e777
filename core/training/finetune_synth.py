"""Large-pose views within a time limit: the synthesis of ``mtface finetune``.

The same views as ``mtface data synthesize`` (core/data/synthesis.py: the original, then rotated
views whose target yaws fill the three |yaw| bins in turn, made by ``profile_face``), made in
rounds over all faces: round 0 keeps every face as it is, round ``j`` adds one rotated view of
every face. A round is only started while the time limit leaves room for it (measured on the
rounds before), so every face gets the same number of views and the set is written in time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mtface.core.data.labels import LabelSet
from mtface.core.data.profiling import profile_face, working_crop
from mtface.core.data.sampleset import SampleSetWriter
from mtface.core.data.synthesis import YAW_BINS, sample_delta
from mtface.core.imageio import load_image
from mtface.core.topology import Topology

#: Rounds made whatever the time limit (the originals and one rotated view).
MIN_ROUNDS = 2


def synthesize_within(
    labels: LabelSet,
    out_dir: Path,
    max_variants: int,
    seconds: float,
    work_size: int = 160,
    context: float = 2.2,
    seed: int = 0,
) -> tuple[int, int]:
    """Write the profiled set of ``labels`` into ``out_dir`` with at most ``max_variants``
    views per face, starting no round that would end after ``seconds`` (at least
    ``MIN_ROUNDS``). Returns (samples, views per face). Raises ImageLoadError for an
    unreadable photo (the caller checked them before)."""
    topology = Topology.load()
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(len(labels)):
        image = load_image(labels.images_root / str(labels.paths[i]))
        crops.append(working_crop(image, labels.vertices[i].astype(np.float64), work_size, context))
    writer = SampleSetWriter(out_dir, len(labels) * max_variants, work_size, topology.num_vertices)
    start = time.monotonic()
    rounds = 0
    bar = tqdm(total=max_variants * len(labels), desc="synthesis", unit="view", file=sys.stderr)
    while rounds < max_variants:
        elapsed = time.monotonic() - start
        per_round = elapsed / rounds if rounds else 0.0
        if rounds >= MIN_ROUNDS and elapsed + per_round > seconds:
            break
        for i, (crop, verts) in enumerate(crops):
            base_pose = tuple(float(a) for a in labels.pose[i])
            delta = (
                (0.0, 0.0, 0.0)
                if rounds == 0
                else sample_delta(base_pose[1], rng, (rounds - 1) % len(YAW_BINS))
            )
            sample = profile_face(crop, verts, base_pose, delta, topology)
            writer.add(sample.image, sample.vertices, sample.pose, i)
            bar.update()
        rounds += 1
    bar.close()
    count = writer.close(
        {
            "variants": rounds,
            "work_size": work_size,
            "context": context,
            "seed": seed,
            "labels": labels.manifest,
            "yaw_bins": YAW_BINS,
            "made_by": "mtface finetune (rounds within a time limit)",
        }
    )
    return count, rounds
