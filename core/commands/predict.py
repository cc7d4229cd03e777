"""``mtface predict IMAGE_OR_FOLDER... --out DIR``.

Each image's outputs (JSON, per-face .pts and mesh, optional overlay) are written as a set: all
of them or, when one cannot be written, none (the old ones stay). They replace all of the
image's earlier outputs: per-face files and an overlay that an earlier run left and this one did
not rewrite are removed. Names cannot collide (core.commands.outputs). Predict never replaces a
file it did not write (an annotation the studio saved in the same folder); a run holds the
output folder's lock; ``--workers`` / ``--shard`` split big folders (core.commands.batch).
"""

from __future__ import annotations

import csv
import errno
import json
import math
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtface.core.commands.batch import OutputLock, PredictorSpec, run_jobs, shard_jobs
from mtface.core.commands.outputs import FaceFileIndex, ImageJob, plan_outputs
from mtface.core.formats.atomic import (
    SaveError,
    atomic_write_set,
    bytes_writer,
    remove_files,
    text_writer,
)
from mtface.core.formats.mesh import mesh_bytes
from mtface.core.formats.overlay import overlay_png_bytes
from mtface.core.formats.prediction_json import prediction_json_text, prediction_to_dict
from mtface.core.formats.pts import format_pts
from mtface.core.imageio import ImageLoadError, load_image
from mtface.core.predictor import Predictor
from mtface.core.types import FaceBox, Prediction

#: A boxes file is a small table; anything larger is refused before it is read (a device such
#: as /dev/zero, or a wrong file, would otherwise be read without limit).
MAX_BOXES_BYTES = 32 * 1024 * 1024
#: Box coordinates beyond this many pixels (images are at most 20000 px a side) are refused.
MAX_COORDINATE = 1e6


Writer = Callable[[Path], None]


class BoxesFileError(ValueError):
    """A malformed --boxes file."""


@dataclass
class PredictSummary:
    """What a run did. ``error`` is set when it stopped early (e.g. the disk is full)."""

    processed: int = 0
    seen: int = 0
    failed: int = 0
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.error or self.failed or not self.processed else 0


def read_boxes(path: Path) -> dict[str, list[FaceBox]]:
    """Read caller boxes: JSON ``{"name.jpg": [[x0, y0, x1, y1], ...]}`` or CSV rows
    ``name,x0,y0,x1,y1`` (a header row is allowed). Keys are image file names. Raises
    BoxesFileError for anything else: not a regular file, over 32 MB, not UTF-8, another
    shape, non-finite or absurd coordinates (beyond 1e6 px), x1 <= x0 or y1 <= y0."""
    path = Path(path)
    text = _read_limited(path)
    table: dict[str, list[FaceBox]] = {}
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, parse_constant=_reject_constant)
            if not isinstance(data, dict):
                raise ValueError(
                    "expected a JSON object of image name -> list of boxes, found "
                    f"{type(data).__name__}"
                )
            for name, boxes in data.items():
                table[_name(name)] = _box_list(name, boxes)
        else:
            for line, row in enumerate(csv.reader(text.splitlines()), 1):
                if not row or (line == 1 and row[0].strip().lower() in ("image", "name", "file")):
                    continue
                if len(row) != 5:
                    raise ValueError(
                        f"line {line}: expected name,x0,y0,x1,y1, found {len(row)} fields"
                    )
                table.setdefault(_name(row[0].strip()), []).append(_box(row[1:5]))
    except (ValueError, TypeError, RecursionError, csv.Error) as exc:
        raise BoxesFileError(f"{path}: malformed boxes file ({str(exc)[:200]})") from exc
    return table


def _read_limited(path: Path) -> str:
    try:
        if not path.is_file():
            raise BoxesFileError(
                f"{path}: not a regular file" if path.exists() else f"{path}: no such file"
            )
        with open(path, "rb") as handle:
            data = handle.read(MAX_BOXES_BYTES + 1)
    except OSError as exc:
        raise BoxesFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(data) > MAX_BOXES_BYTES:
        raise BoxesFileError(f"{path}: larger than {MAX_BOXES_BYTES // 2**20} MB; not a boxes file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BoxesFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not a number (boxes must be finite)")


def _name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"image name {name!r:.40} is empty or not text")
    return name


def _box_list(name: str, boxes: object) -> list[FaceBox]:
    if not isinstance(boxes, list):
        raise ValueError(f"{name!r:.60}: expected a list of [x0, y0, x1, y1] boxes")
    if boxes and not isinstance(boxes[0], list):
        boxes = [boxes]  # one box given without the outer list
    return [_box(b) for b in boxes]


def _box(values: object) -> FaceBox:
    if not isinstance(values, (list, tuple)) or len(values) != 4:
        raise ValueError(f"box {values!r:.60} is not [x0, y0, x1, y1]")
    numbers = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError(f"box {values!r:.60}: {v!r:.20} is not a number")
        number = float(v)
        if not math.isfinite(number) or abs(number) > MAX_COORDINATE:
            raise ValueError(
                f"box {values!r:.60}: {v!r:.20} is not a finite pixel coordinate "
                f"(|x| <= {MAX_COORDINATE:.0e})"
            )
        numbers.append(number)
    x0, y0, x1, y1 = numbers
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box {values!r:.60} is not x0, y0, x1, y1 with x1 > x0 and y1 > y0")
    return FaceBox(x0, y0, x1, y1, 1.0)


def _caller_boxes(boxes: dict[str, list[FaceBox]], job: ImageJob) -> list[FaceBox] | None:
    for key in (job.path.name, str(job.path), job.base + job.path.suffix):
        if key in boxes:
            return boxes[key]
    return None


def output_set(
    prediction: Prediction,
    job: ImageJob,
    out_dir: Path,
    predictor: Predictor,
    image: np.ndarray | None,
    mesh_format: str,
    model_info: dict | None,
) -> list[tuple[Path, Writer]]:
    """The files of one image as (path, writer) pairs; raises ValueError when the prediction
    holds NaN or Infinity (nothing is written then). The overlay is drawn on ``image``."""
    target = out_dir / job.base
    name = target.name
    items: list[tuple[Path, Writer]] = []
    mesh_files = []
    uv = predictor.topology.uv if mesh_format == "obj" else None
    for i, face in enumerate(prediction.faces):
        mesh_name = f"{name}_face{i}.{mesh_format}"
        items.append(
            (
                target.with_name(mesh_name),
                bytes_writer(
                    mesh_bytes(face.vertices, predictor.topology.triangles, mesh_format, uv)
                ),
            )
        )
        items.append(
            (target.with_name(f"{name}_face{i}.pts"), text_writer(format_pts(face.landmarks_2d)))
        )
        mesh_files.append(mesh_name)
    payload = prediction_to_dict(prediction, job.path.name, mesh_files, model_info)
    items.append((target.with_name(f"{name}.json"), text_writer(prediction_json_text(payload))))
    if image is not None:
        items.append(
            (
                target.with_name(f"{name}_overlay.png"),
                bytes_writer(overlay_png_bytes(image, prediction.faces, in_place=True)),
            )
        )
    return items


@dataclass(frozen=True)
class PredictContext:
    """What every image of a run shares (picklable, for worker processes); ``run`` names the
    run (each process keeps its own index of the files already in ``out_dir``)."""

    out_dir: Path
    boxes: dict[str, list[FaceBox]] | None
    overlay: bool
    mesh_format: str
    model_info: dict | None
    run: str


@dataclass
class JobResult:
    """One image: what to print, and whether it was written / failed / stopped the run."""

    messages: list[str] = field(default_factory=list)
    processed: bool = False
    failed: bool = False
    error: str | None = None


_INDEXES: dict[str, FaceFileIndex] = {}


def boxes_inside(boxes: list[FaceBox], height: int, width: int) -> list[FaceBox]:
    """The caller boxes that overlap the image (a box partly outside is fine)."""
    return [b for b in boxes if b.x1 > 0 and b.y1 > 0 and b.x0 < width and b.y0 < height]


def predict_job(predictor: Predictor, job: ImageJob, context: PredictContext) -> JobResult:
    """Predict one image and write its outputs as a set, replacing all of the image's earlier
    outputs (stale per-face files and a stale overlay are removed)."""
    result = JobResult()
    try:
        image = load_image(job.path)
    except ImageLoadError as exc:
        result.messages.append(f"skipped: {exc}")
        return result
    caller_boxes = None
    if context.boxes is not None:
        caller_boxes = _caller_boxes(context.boxes, job)
        if caller_boxes is None:
            result.messages.append(f"skipped: {job.path}: no box for it in the boxes file")
            return result
        inside = boxes_inside(caller_boxes, *image.shape[:2])
        if len(inside) < len(caller_boxes):
            outside = [b for b in caller_boxes if all(b is not i for i in inside)]
            result.messages.append(
                f"{'skipped' if not inside else 'warning'}: {job.path}: "
                f"{len(outside)} box(es) lie entirely outside the {image.shape[1]}x"
                f"{image.shape[0]} image (first: {[round(v, 1) for v in outside[0].as_tuple()]})"
                + ("" if inside else "; no face predicted")
            )
            if not inside:
                result.failed = True
                return result
        caller_boxes = inside
    prediction = predictor.predict(image, caller_boxes)
    out_dir = context.out_dir
    try:
        items = output_set(
            prediction,
            job,
            out_dir,
            predictor,
            image if context.overlay else None,
            context.mesh_format,
            context.model_info,
        )
    except ValueError as exc:
        result.messages.append(f"failed: {job.path}: {exc}")
        result.failed = True
        return result
    del image
    target = out_dir / job.base
    index = _INDEXES.setdefault(context.run, FaceFileIndex())
    try:
        written = atomic_write_set(items)
        stale = index.stale(target.parent, target.name, written)
        overlay = target.with_name(f"{target.name}_overlay.png")
        if not context.overlay and overlay.is_file():
            stale.append(overlay)
        remove_files(stale)
    except SaveError as exc:
        result.error = str(exc)
        return result
    if not prediction.faces:
        result.messages.append(f"no face found: {job.path}")
    result.processed = True
    return result


def foreign_outputs(jobs: list[ImageJob], out_dir: Path) -> list[Path]:
    """Files in ``out_dir`` that this run would replace or remove but that ``mtface predict``
    did not write: an image's ``NAME.json`` that is not a prediction (a labelme annotation
    the studio saved, say), or its ``NAME_faceK.*`` / ``NAME_overlay.png`` without a
    prediction ``NAME.json`` beside them (``annotate --format pts`` writes ``NAME_faceK.pts``)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    index = FaceFileIndex()
    found: list[Path] = []
    for job in jobs:
        target = out_dir / job.base
        if not target.parent.is_dir():
            continue
        json_path = target.with_name(target.name + ".json")
        ours = json_path.is_file() and is_prediction_file(json_path)
        if json_path.exists() and not ours:
            found.append(json_path)
        elif not ours:
            overlay = target.with_name(f"{target.name}_overlay.png")
            found += index.existing(target.parent, target.name)
            found += [overlay] if overlay.is_file() else []
    return found


def is_prediction_file(path: Path) -> bool:
    """True for a JSON file ``mtface predict`` wrote (its ``schema`` is mtface-prediction)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return False
    return b'"schema"' in head and b'"mtface-prediction/' in head


def run_predict(
    inputs: list[Path],
    out_dir: Path,
    predictor: Predictor,
    boxes: dict[str, list[FaceBox]] | None = None,
    overlay: bool = False,
    mesh_format: str = "obj",
    model_info: dict | None = None,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    spec: PredictorSpec | None = None,
) -> PredictSummary:
    """Process every image (of shard ``shard``), in ``workers`` processes (built from
    ``spec``). Unreadable images are skipped; a write failure stops the run. Holds the
    output folder's lock; raises OutputBusyError when another run holds it, ValueError
    (nothing written) when ``out_dir`` holds files predict did not write."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "--out is a file, not a folder", str(out_dir))
    jobs = shard_jobs(plan_outputs(inputs, out_dir), shard)
    summary = PredictSummary(seen=len(jobs))
    if not jobs:
        print("no images found in " + ", ".join(map(str, inputs)), file=sys.stderr)
        return summary
    with OutputLock(out_dir, shard):
        foreign = foreign_outputs(jobs, out_dir)
        if foreign:
            raise ValueError(
                f"{len(foreign)} file(s) in {out_dir} that `mtface predict` did not write would "
                f"be replaced (first: {foreign[0]}; an annotation?); predict never replaces "
                "them: give another --out"
            )
        context = PredictContext(
            out_dir, boxes, overlay, mesh_format, model_info, run=uuid.uuid4().hex
        )

        def take(result: JobResult) -> None:
            summary.processed += result.processed
            summary.failed += result.failed
            summary.error = result.error or summary.error

        try:
            run_jobs(predict_job, jobs, context, predictor, spec, workers, "predict", take)
        finally:
            _INDEXES.pop(context.run, None)
    return summary
