"""``mtface annotate FOLDER --format labelme``: pre-annotate images for the studio.

Each image gets the model's faces as an annotation file beside it (the studio opens it and shows
the model's prediction next to it). Existing annotation files are human work: they are skipped
unless ``--overwrite``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from mtface.core.annotation.session import FaceAnnotation
from mtface.core.formats.annotations import annotation_path, write_annotation
from mtface.core.formats.atomic import SaveError
from mtface.core.imageio import ImageLoadError, list_images, load_image
from mtface.core.predictor import Predictor


def run_annotate(inputs: list[Path], predictor: Predictor, fmt: str = "labelme",
                 out_dir: Path | None = None, overwrite: bool = False) -> tuple[int, int]:
    """Returns (annotated images, images seen)."""
    images = list_images(inputs)
    done = 0
    for path in tqdm(images, desc="annotate", unit="img", file=sys.stderr):
        target = annotation_path(path, fmt)
        if out_dir is not None:
            target = Path(out_dir) / target.name
        if target.exists() and not overwrite:
            tqdm.write(f"kept existing {target} (use --overwrite to replace it)", file=sys.stderr)
            continue
        try:
            image = load_image(path)
        except ImageLoadError as exc:
            tqdm.write(f"skipped: {exc}", file=sys.stderr)
            continue
        faces = predictor.predict(image).faces
        if not faces:
            tqdm.write(f"no face found: {path}", file=sys.stderr)
            continue
        try:
            write_annotation(target, fmt, [FaceAnnotation.from_face(f) for f in faces],
                             path.name, image.shape[:2])
        except SaveError as exc:
            print(f"error: {exc}", file=sys.stderr)
            break
        done += 1
    return done, len(images)
