"""``mtface data label``: run the teacher over a folder of photos and store the labels."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from mtface.core.data.labels import LabelWriter
from mtface.core.data.overlay import remove_drawn_overlay
from mtface.core.data.teacher import TEACHER_NAME, FaceMeshTeacher
from mtface.core.imageio import ImageLoadError, list_images, load_image
from mtface.core.topology import Topology


def label_folder(
    images_root: Path,
    out_dir: Path,
    licence: str,
    limit: int | None = None,
    max_disagreement: float = 0.03,
    remove_overlays: bool = False,
) -> tuple[int, int]:
    """Label every image under ``images_root`` (identity = parent folder name).

    ``remove_overlays`` inpaints drawn green boxes and dots first (core.data.overlay); the
    manifest records it so that every later reader cleans the photos the same way.
    Returns (labelled faces, images seen). Unreadable images are reported and skipped.
    """
    topology = Topology.load()
    teacher = FaceMeshTeacher(topology, max_disagreement=max_disagreement)
    images = list_images([images_root])[:limit]
    writer = LabelWriter(
        out_dir,
        images_root,
        {
            "teacher": TEACHER_NAME,
            "topology": topology.source,
            "source": str(Path(images_root).resolve()),
            "licence": licence,
            "max_disagreement": max_disagreement,
            "preprocess": "remove_drawn_overlay" if remove_overlays else "none",
        },
    )
    kept = 0
    for path in tqdm(images, desc="teacher", unit="img", file=sys.stderr):
        try:
            image = load_image(path)
            if remove_overlays:
                image = remove_drawn_overlay(image)
        except ImageLoadError as exc:
            tqdm.write(f"skipped: {exc}", file=sys.stderr)
            continue
        label = teacher.label(image)
        if label is None:
            continue
        writer.add(
            path, path.parent.name, label.vertices, label.pose, label.disagreement, label.box
        )
        kept += 1
    writer.close()
    return kept, len(images)
