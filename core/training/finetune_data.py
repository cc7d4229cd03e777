"""The data side of ``mtface finetune``: checking the folders, the held-out photos, the scores.

Before any long work, :func:`scan_inputs` reads every annotation and every annotated photo under
the user's folders (the formats ``mtface data import-annotations`` reads: iBUG ``.pts``, also
one file per face ``photo_face0.pts``, ``photo_face1.pts``..., labelme, COCO, CSV) and raises
one :class:`FinetuneInputError` for everything that would stop the run: a missing folder, no
annotation, an unreadable photo or annotation, a face without 68 finite points, too few faces
or photos.

The held-out part is chosen by photo as the import chooses it (``labels.is_validation_identity``
on ``human_labels.photo_identity``: a photo's faces stay together, the same answer on every
machine): the fifth of the photos whose names hash lowest, and at least one
(:func:`held_out_fraction`).

:func:`held_out_scores` scores a predictor on the held-out faces of a label folder the way
``mtface evaluate --pts`` scores a folder (the protocol crop of the annotated points, one pass,
inter-ocular NME in %).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.data.human_labels import (
    ANNOTATION_SUFFIXES,
    find_annotated_images,
    photo_identity,
    read_annotated_faces,
)
from mtface.core.formats.pts import AnnotationFormatError
from mtface.core.imageio import ImageLoadError, load_image

#: The fewest annotated faces (and photos) a fine-tuning run accepts.
MIN_FACES = 4
MIN_PHOTOS = 2
#: The share of photos held out to measure the model before and after.
HELD_OUT_FRACTION = 0.2
#: At most this many problems are named in the error message (then a count).
MAX_LISTED = 5


class FinetuneInputError(ValueError):
    """Input that cannot be fine-tuned on; the message says what and where (exit code 2)."""


@dataclass(frozen=True)
class InputScan:
    """What the folders hold: ``root`` (their common folder, relative to which photos are
    named), ``faces`` annotated faces on ``photos`` photos (``images`` image files),
    ``identities`` (images,) the photo of each image file."""

    folders: tuple[Path, ...]
    root: Path
    images: int
    faces: int
    photos: int
    identities: tuple[str, ...]


def common_root(folders: list[Path]) -> Path:
    """The folder relative to which photos are named (as the import names them)."""
    root = Path(os.path.commonpath([str(f) for f in folders]))
    return root.parent if root.is_file() else root


def scan_inputs(folders: list[Path]) -> InputScan:
    """Read every annotation and photo under ``folders`` once; raise FinetuneInputError (one
    message naming every kind of problem found) when the run could not use them all."""
    resolved = [Path(f).resolve() for f in folders]
    missing = [str(f) for f in resolved if not f.is_dir()]
    if missing:
        raise FinetuneInputError(f"not a folder: {', '.join(missing)}")
    root = common_root(resolved)
    items = find_annotated_images(resolved)
    if not items:
        raise FinetuneInputError(
            f"no annotated photos under {', '.join(map(str, resolved))} (looked for "
            f"{', '.join(ANNOTATION_SUFFIXES)} beside each image: annotate them in the studio "
            "or with `mtface annotate`)"
        )
    problems: list[str] = []
    faces = 0
    identities = []
    for item in items:
        try:
            annotated = read_annotated_faces(item)
            load_image(item.image)
        except (ImageLoadError, AnnotationFormatError) as exc:
            problems.append(str(exc))
            continue
        for k, face in enumerate(annotated):
            points = np.asarray(face.landmarks)
            if points.shape[0] != 68 or not np.isfinite(points).all():
                problems.append(
                    f"{item.annotation}: face {k + 1} has {points.shape[0]} points"
                    + ("" if np.isfinite(points).all() else " with NaN or infinite values")
                    + " (68 finite points needed)"
                )
        faces += len(annotated)
        identities.append(photo_identity(item.image, root))
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise FinetuneInputError(
            f"{len(problems)} unusable annotated photo(s): {listed}{more}; fix or remove them"
        )
    photos = len(set(identities))
    if faces < MIN_FACES or photos < MIN_PHOTOS:
        raise FinetuneInputError(
            f"too few annotated faces: {faces} face(s) on {photos} photo(s) under "
            f"{', '.join(map(str, resolved))}; fine-tuning needs at least {MIN_FACES} faces on "
            f"{MIN_PHOTOS} photos (one part is held out to measure the model), and gains "
            "most from hundreds"
        )
    return InputScan(tuple(resolved), root, len(items), faces, photos, tuple(identities))


def _digest(identity: str) -> int:
    """As ``labels.is_validation_identity`` hashes a photo's name."""
    return int(hashlib.sha1(identity.encode()).hexdigest()[:8], 16)


def held_out_fraction(identities: tuple[str, ...], fraction: float = HELD_OUT_FRACTION) -> float:
    """The ``val_fraction`` for the import that holds out the ``fraction`` of the photos whose
    names hash lowest (at least one photo): the hash limit is set between the last photo held
    out and the next, so the share does not depend on how the folder's names happen to hash
    (a folder chosen by the same hash, as a benchmark split may be, still gets its fifth).
    Raises FinetuneInputError when no photo would be left to train on."""
    digests = sorted({_digest(i) for i in set(identities)})
    count = max(1, round(fraction * len(digests)))
    if count >= len(digests):
        raise FinetuneInputError("every photo would be held out; add photos")
    return float((digests[count - 1] + 0.5) / 0xFFFFFFFF)


@dataclass(frozen=True)
class HeldOutScores:
    """Inter-ocular NME (%) of the held-out faces per landmark reading ('2d', '3d')."""

    faces: int
    nme_io: dict[str, float]


def held_out_scores(
    weights: Path | None, labels_dir: Path, conventions: tuple[str, ...] = ("2d", "3d")
) -> HeldOutScores:
    """Score ``weights`` (with whatever refiner and offsets they carry) on the held-out faces
    of the label folder ``labels_dir`` with the landmark definitions ``conventions``."""
    from mtface.core.data.labels import load_human_labels
    from mtface.core.evaluation import nme_interocular
    from mtface.core.geometry import box_of_points
    from mtface.core.predictor import Predictor
    from mtface.core.types import FaceBox

    labels, held_out = load_human_labels(labels_dir)
    index = np.nonzero(held_out)[0]
    human = labels.human_landmarks[index, :, :2].astype(np.float64)
    predictor = Predictor.from_weights(weights)
    found: dict[str, list[np.ndarray]] = {c: [] for c in conventions}
    for k, i in enumerate(index):
        image = load_image(labels.images_root / str(labels.paths[i]))
        box = FaceBox(*box_of_points(human[k]))
        for convention in found:
            predictor.landmarks = convention
            face = predictor.predict(image, [box], box_kind="landmarks", refine=False).faces[0]
            found[convention].append(np.asarray(face.landmarks_2d, np.float64))
    return HeldOutScores(
        len(index),
        {c: float(nme_interocular(np.stack(p), human).mean()) for c, p in found.items() if p},
    )
