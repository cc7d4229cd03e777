"""``mtface annotate FOLDER --format labelme``: pre-annotate images for the studio.

Each image gets the model's faces as an annotation file beside it (the studio opens it and shows
the model's prediction next to it), or in ``--out`` under names that cannot collide
(core.commands.outputs). Existing annotation files are human work: an image is skipped when any
file this run would write for it exists (for ``.pts``: ``photo.pts`` or any
``photo_faceK.pts``), unless ``--overwrite``; then the per-face files a run no longer writes
(fewer faces found) are removed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.commands.outputs import ImageJob, plan_outputs
from mtface.core.formats.annotations import SUFFIX, annotation_path, write_annotation
from mtface.core.formats.atomic import SaveError, remove_files
from mtface.core.imageio import ImageLoadError, load_image
from mtface.core.predictor import Predictor


@dataclass
class AnnotateSummary:
    """What a run did; ``error`` is set when it stopped early (a file could not be written)."""

    annotated: int = 0
    seen: int = 0
    kept: int = 0
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.error or not self.annotated else 0


def _target(job: ImageJob, fmt: str, out_dir: Path | None) -> Path:
    if out_dir is None:
        return annotation_path(job.path, fmt)
    return Path(out_dir) / (job.base + SUFFIX[fmt])


def existing_pts(target: Path) -> list[Path]:
    """``photo.pts`` and every ``photo_faceK.pts`` beside ``target`` that exist."""
    found = [target] if target.is_file() else []
    if target.parent.is_dir():
        prefix = target.stem + "_face"
        found += sorted(
            p
            for p in target.parent.glob(f"{_glob_escape(prefix)}*.pts")
            if p.name[len(prefix) : -4].isdigit() and p.is_file()
        )
    return found


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def run_annotate(
    inputs: list[Path],
    predictor: Predictor,
    fmt: str = "labelme",
    out_dir: Path | None = None,
    overwrite: bool = False,
) -> AnnotateSummary:
    """Annotate every image; a write failure stops the run (old files stay intact)."""
    jobs = plan_outputs(inputs)
    summary = AnnotateSummary(seen=len(jobs))
    for job in tqdm(jobs, desc="annotate", unit="img", file=sys.stderr, disable=len(jobs) < 2):
        target = _target(job, fmt, out_dir)
        existing = existing_pts(target) if fmt == "pts" else ([target] if target.exists() else [])
        if existing and not overwrite:
            tqdm.write(
                f"kept existing {existing[0]} (use --overwrite to replace it)", file=sys.stderr
            )
            summary.kept += 1
            continue
        try:
            image = load_image(job.path)
        except ImageLoadError as exc:
            tqdm.write(f"skipped: {exc}", file=sys.stderr)
            continue
        faces = predictor.predict(image).faces
        if not faces:
            tqdm.write(f"no face found: {job.path}", file=sys.stderr)
            continue
        try:
            written = write_annotation(
                target,
                fmt,
                [FaceAnnotation.from_face(f) for f in faces],
                job.path.name,
                image.shape[:2],
            )
        except ValueError as exc:
            tqdm.write(f"failed: {job.path}: {exc}", file=sys.stderr)
            continue
        except SaveError as exc:
            summary.error = str(exc)
            return summary
        try:
            remove_files(p for p in existing if p not in written)
        except SaveError as exc:
            summary.error = str(exc)
            return summary
        summary.annotated += 1
    return summary
