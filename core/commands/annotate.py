"""``mtface annotate FOLDER --format labelme``: pre-annotate images for the studio.

Each image gets the model's faces as an annotation file beside it (the studio opens it and shows
the model's prediction next to it), or in ``--out`` under names that cannot collide
(core.commands.outputs). Existing annotation files are human work: an image is skipped when any
file this run would write for it exists (for ``.pts``: ``photo.pts``, any ``photo_faceK.pts``
or the sidecar ``photo.pts.json``), unless ``--overwrite``; then the per-face files a run no
longer writes (fewer faces found) are removed. Even with ``--overwrite``, annotate never replaces
a file it did not write: one that is not an annotation (a prediction JSON of ``mtface
predict``, anything unreadable) or one with a person's work in it (points marked edited, a face
a person drew). ``--workers`` / ``--shard`` split big folders (core.commands.batch).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.commands.batch import OutputLock, PredictorSpec, run_jobs, shard_jobs
from mtface.core.commands.outputs import ImageJob, plan_outputs
from mtface.core.formats.annotations import (
    SUFFIX,
    annotation_path,
    read_annotation_record,
    write_annotation,
)
from mtface.core.formats.atomic import SaveError, remove_files
from mtface.core.formats.pts import AnnotationFormatError
from mtface.core.formats.pts_set import pts_files, sidecar_path
from mtface.core.imageio import ImageLoadError, load_image
from mtface.core.model_file import model_record
from mtface.core.predictor import Predictor


@dataclass
class AnnotateSummary:
    """What a run did; ``error`` is set when it stopped early (a file could not be written).
    ``kept``: images whose existing annotation was kept."""

    annotated: int = 0
    seen: int = 0
    kept: int = 0
    error: str | None = None

    @property
    def exit_code(self) -> int:
        """0 when every image is annotated or kept (nothing left to do is a success)."""
        return 1 if self.error or not (self.annotated or self.kept) else 0

    def line(self) -> str:
        """The run's last line."""
        if self.seen and self.kept == self.seen:
            return (
                f"all {self.seen} image(s) already annotated; kept their files (use "
                "--overwrite to replace files annotate wrote)"
            )
        kept = f", kept {self.kept} existing" if self.kept else ""
        return f"annotated {self.annotated} of {self.seen} image(s){kept}"


@dataclass(frozen=True)
class AnnotateContext:
    """What every image of a run shares (picklable, for worker processes)."""

    fmt: str
    out_dir: Path | None
    overwrite: bool


@dataclass
class AnnotateResult:
    messages: list[str] = field(default_factory=list)
    annotated: bool = False
    kept: bool = False
    error: str | None = None


def _target(job: ImageJob, fmt: str, out_dir: Path | None) -> Path:
    if out_dir is None:
        return annotation_path(job.path, fmt)
    return Path(out_dir) / (job.base + SUFFIX[fmt])


def existing_pts(target: Path) -> list[Path]:
    """``photo.pts``, every ``photo_faceK.pts`` and the sidecar ``photo.pts.json`` beside
    ``target`` that exist."""
    sidecar = sidecar_path(target)
    return pts_files(target) + ([sidecar] if sidecar.is_file() else [])


def person_work(paths: list[Path], image_name: str) -> str | None:
    """Why the annotation files ``paths`` must not be replaced even with --overwrite (not an
    annotation, or holds a person's edits); None when annotate may replace them."""
    for path in paths:
        if path.name.endswith(".pts.json"):
            continue  # the sidecar: read with its .pts files
        try:
            record = read_annotation_record(path, image_name=image_name)
        except AnnotationFormatError as exc:
            return f"{path} is not an annotation mtface can read ({str(exc)[-80:]})"
        review = record.review
        if review is not None and (review.reviewed or review.flags or review.note):
            return f"{path} was reviewed or flagged by a person"
        for face in record.faces:
            if face.edited.any() or getattr(face, "drawn_by_person", False):
                return f"{path} holds a person's corrections"
    return None


def annotate_job(predictor: Predictor, job: ImageJob, context: AnnotateContext) -> AnnotateResult:
    """Annotate one image (see the module docstring)."""
    result = AnnotateResult()
    target = _target(job, context.fmt, context.out_dir)
    existing = (
        existing_pts(target) if context.fmt == "pts" else ([target] if target.exists() else [])
    )
    if existing:
        reason = (
            person_work(existing, job.path.name)
            if context.overwrite
            else "use --overwrite to replace it"
        )
        if reason is not None:
            result.messages.append(f"kept existing {existing[0]} ({reason})")
            result.kept = True
            return result
    try:
        image = load_image(job.path)
    except ImageLoadError as exc:
        result.messages.append(f"skipped: {exc}")
        return result
    faces = predictor.predict(image).faces
    if not faces:
        result.messages.append(f"no face found: {job.path}")
        return result
    try:
        written = write_annotation(
            target,
            context.fmt,
            [
                FaceAnnotation.from_face(f, model=model_record(predictor, f.convention))
                for f in faces
            ],
            job.path.name,
            image.shape[:2],
        )
        remove_files(p for p in existing if p not in written)
    except ValueError as exc:
        result.messages.append(f"failed: {job.path}: {exc}")
        return result
    except SaveError as exc:
        result.error = str(exc)
        return result
    result.annotated = True
    return result


def run_annotate(
    inputs: list[Path],
    predictor: Predictor,
    fmt: str = "labelme",
    out_dir: Path | None = None,
    overwrite: bool = False,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    spec: PredictorSpec | None = None,
) -> AnnotateSummary:
    """Annotate every image (of shard ``shard``, in ``workers`` processes built from
    ``spec``); a write failure stops the run (old files stay intact). With ``out_dir`` the run
    holds its lock (OutputBusyError when another run does)."""
    jobs = shard_jobs(plan_outputs(inputs, out_dir), shard)
    summary = AnnotateSummary(seen=len(jobs))
    if not jobs:
        print("no images found in " + ", ".join(map(str, inputs)), file=sys.stderr)
        return summary
    context = AnnotateContext(fmt, None if out_dir is None else Path(out_dir), overwrite)
    lock = OutputLock(Path(out_dir), shard) if out_dir is not None else None
    if lock is not None:
        lock.__enter__()

    def take(result: AnnotateResult) -> None:
        summary.annotated += result.annotated
        summary.kept += result.kept
        summary.error = result.error or summary.error

    try:
        run_jobs(annotate_job, jobs, context, predictor, spec, workers, "annotate", take)
    finally:
        if lock is not None:
            lock.__exit__()
    return summary
