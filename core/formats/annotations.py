"""Landmark annotation formats people use: labelme JSON, COCO keypoints, CSV, iBUG .pts, and
the 300W-LP / AFLW2000-3D ``.mat`` files (read only).

Readers return an AnnotationRecord (faces and the image's review state; ``read_annotation``
the faces alone) and raise AnnotationFormatError for malformed files; all writers are atomic.
Coordinates in files are image pixels; in memory 0-based pixel centres (labelme, COCO and CSV
files use the same 0-based values; .pts is 1-based, .mat is 1-based).

* labelme: one point shape per landmark; ``label`` is the 1-based index, ``group_id`` the face,
  ``description`` the landmark name, shape ``flags`` {"visible": bool, "edited": bool}. The
  image's ``flags`` hold "reviewed" and the review flags (labelme shows them as check boxes);
  ``"mtface"`` holds the note and per face its definition, origin, model and confidence.
* COCO: ``v`` = 2 visible, 1 labelled but occluded (never collapsed into 2), 0 not labelled;
  ``mtface_*`` fields per annotation, ``mtface_review`` on the image.
* CSV: one row per point; the face's and the image's fields repeated on each row.
* .pts: the points only; a sidecar ``<stem>.pts.json`` (core/formats/pts_set.py) holds the rest.

Fields of an existing file that mtface does not know (other labelme shapes and flags, extra COCO
keys, extra CSV columns) are kept when the file is written again (core/formats/keep_extras.py).
docs/formats.md documents every field.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.record import (
    REVIEW_FLAGS,
    AnnotationRecord,
    ReviewState,
    apply_face_meta,
    face_meta,
)
from mtface.core.formats.atomic import atomic_write_json, atomic_write_text
from mtface.core.formats.keep_extras import (
    keep_coco_extras,
    keep_csv_extras,
    keep_labelme_extras,
    read_previous,
)
from mtface.core.formats.pts import AnnotationFormatError
from mtface.core.formats.pts_set import SIDECAR_SCHEMA, read_pts_record, write_pts_set
from mtface.core.topology import ibug68_edges, ibug68_name
from mtface.core.types import Pose

FORMATS = ("labelme", "coco", "csv", "pts")
#: More landmarks than this in one face is not an annotation (and would exhaust memory).
MAX_POINTS = 10_000
SUFFIX = {"labelme": ".json", "coco": ".coco.json", "csv": ".csv", "pts": ".pts"}
#: The version of mtface's fields in labelme and COCO files (``mtface.schema``).
SCHEMA = "mtface-annotation/2"


def _name(i: int, count: int) -> str:
    return ibug68_name(i) if count == 68 else f"point {i + 1}"


# --- labelme -------------------------------------------------------------------------------


def to_labelme(
    faces: list[FaceAnnotation],
    image_name: str,
    image_size: tuple[int, int],
    review: ReviewState | None = None,
    previous: object = None,
) -> dict:
    """The labelme dict; ``previous`` (the file being replaced, parsed) gives the fields to
    keep."""
    review = review or ReviewState()
    shapes = []
    for f_idx, face in enumerate(faces):
        for i, (x, y) in enumerate(face.landmarks):
            shapes.append(
                {
                    "label": str(i + 1),
                    "points": [[float(x), float(y)]],
                    "group_id": f_idx,
                    "description": _name(i, len(face.landmarks)),
                    "shape_type": "point",
                    "flags": {"visible": bool(face.visible[i]), "edited": bool(face.edited[i])},
                    "mask": None,
                }
            )
    flags = {"reviewed": review.reviewed}
    flags.update({f: f in review.flags for f in REVIEW_FLAGS})
    flags.update({f: True for f in review.flags if f not in REVIEW_FLAGS})
    data = {
        "version": "5.5.0",
        "flags": flags,
        "shapes": shapes,
        "imagePath": image_name,
        "imageData": None,
        "imageHeight": int(image_size[0]),
        "imageWidth": int(image_size[1]),
        "mtface": {
            "schema": SCHEMA,
            "note": review.note,
            "confidence": [face_meta(f)["confidence"] for f in faces],
            "faces": [face_meta(f) for f in faces],
        },
    }
    return keep_labelme_extras(data, previous, len(faces))


def _read_confidence(values: object, k: int) -> float | None:
    try:
        value = values[k]  # type: ignore[index]
        return None if value is None else float(value)
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _labelme_review(data: dict) -> ReviewState | None:
    flags = data.get("flags")
    if not isinstance(flags, dict) or not isinstance(flags.get("reviewed"), bool):
        return None
    extra = data.get("mtface")
    note = extra.get("note") if isinstance(extra, dict) else None
    return ReviewState(
        flags["reviewed"],
        tuple(f for f in REVIEW_FLAGS if flags.get(f) is True),
        note if isinstance(note, str) else "",
    )


def from_labelme(data: dict, source: str) -> list[FaceAnnotation]:
    return labelme_record(data, source).faces


def labelme_record(data: dict, source: str) -> AnnotationRecord:
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise AnnotationFormatError(f"{source}: not a labelme file (no 'shapes' list)")
    groups: dict[int, dict[int, tuple[float, float, bool, bool]]] = {}
    for shape in data["shapes"]:
        if not isinstance(shape, dict):
            raise AnnotationFormatError(f"{source}: a shape is not an object: {shape!r:.60}")
        if shape.get("shape_type", "point") != "point":
            continue
        try:
            index = int(shape["label"]) - 1
            if not 0 <= index < MAX_POINTS:
                raise ValueError(f"label {index + 1} outside 1..{MAX_POINTS}")
            ((x, y),) = shape["points"]
            flags = shape.get("flags") or {}
            group = int(shape.get("group_id") or 0)
            groups.setdefault(group, {})[index] = (
                float(x),
                float(y),
                bool(flags.get("visible", True)),
                bool(flags.get("edited", False)),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise AnnotationFormatError(f"{source}: malformed point shape {shape!r:.80}") from exc
    extra = data.get("mtface") if isinstance(data.get("mtface"), dict) else {}
    metas = extra.get("faces") if isinstance(extra.get("faces"), list) else []
    faces = []
    for group in sorted(groups):
        points = groups[group]
        count = max(points) + 1
        if sorted(points) != list(range(count)):
            raise AnnotationFormatError(
                f"{source}: face {group} lacks points {sorted(set(range(count)) - set(points))[:5]}"
            )
        arr = np.array([points[i][:2] for i in range(count)])
        vis = np.array([points[i][2] for i in range(count)])
        ann = FaceAnnotation.from_points(arr, vis, source="labelme")
        ann.edited[:] = [points[i][3] for i in range(count)]
        ann.confidence = _read_confidence(extra.get("confidence"), len(faces))
        if len(faces) < len(metas):
            apply_face_meta(ann, metas[len(faces)])
        faces.append(ann)
    review = _labelme_review(data)
    if not faces and review is None:
        raise AnnotationFormatError(f"{source}: no landmark points in the file")
    return AnnotationRecord(faces, review)


# --- COCO -----------------------------------------------------------------------------------


def to_coco(
    faces: list[FaceAnnotation],
    image_name: str,
    image_size: tuple[int, int],
    review: ReviewState | None = None,
    previous: object = None,
) -> dict:
    review = review or ReviewState()
    count = len(faces[0].landmarks) if faces else 68
    annotations = []
    for k, face in enumerate(faces):
        kps = []
        for (x, y), vis in zip(face.landmarks, face.visible):
            kps += [round(float(x), 3), round(float(y), 3), 2 if vis else 1]
        x0, y0 = face.landmarks.min(0)
        x1, y1 = face.landmarks.max(0)
        meta = face_meta(face)
        annotations.append(
            {
                "id": k + 1,
                "image_id": 1,
                "category_id": 1,
                "keypoints": kps,
                "num_keypoints": len(face.landmarks),
                "iscrowd": 0,
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "area": float((x1 - x0) * (y1 - y0)),
                "mtface_edited": [bool(e) for e in face.edited],
                "mtface_confidence": meta["confidence"],
                "mtface_definition": meta["definition"],
                "mtface_origin": meta["origin"],
                "mtface_model": meta["model"],
            }
        )
    data = {
        "info": {"description": "mtface landmarks; v: 2 visible, 1 labelled but occluded"},
        "images": [
            {
                "id": 1,
                "file_name": image_name,
                "height": int(image_size[0]),
                "width": int(image_size[1]),
                "mtface_review": review.to_dict(),
                "mtface_schema": SCHEMA,
            }
        ],
        "annotations": annotations,
        "categories": [
            {
                "id": 1,
                "name": "face",
                "supercategory": "person",
                "keypoints": [_name(i, count) for i in range(count)],
                "skeleton": [[a + 1, b + 1] for a, b in ibug68_edges()] if count == 68 else [],
            }
        ],
    }
    return keep_coco_extras(data, previous)


def from_coco(data: dict, source: str, image_name: str | None = None) -> list[FaceAnnotation]:
    return coco_record(data, source, image_name).faces


def coco_record(data: dict, source: str, image_name: str | None = None) -> AnnotationRecord:
    review = None
    try:
        images = {im["id"]: im["file_name"] for im in data["images"]}
        for im in data["images"]:
            if image_name is None or Path(im["file_name"]).name == image_name:
                review = ReviewState.from_dict(im.get("mtface_review"))
                break
        faces = []
        for ann in data["annotations"]:
            if image_name is not None and Path(images[ann["image_id"]]).name != image_name:
                continue
            kps = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
            face = FaceAnnotation.from_points(kps[:, :2], kps[:, 2] == 2, source="coco")
            edited = ann.get("mtface_edited")
            if edited is not None:
                face.edited[:] = edited
            face.confidence = _read_confidence([ann.get("mtface_confidence")], 0)
            apply_face_meta(
                face,
                {
                    "definition": ann.get("mtface_definition"),
                    "origin": ann.get("mtface_origin"),
                    "model": ann.get("mtface_model"),
                },
            )
            faces.append(face)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnnotationFormatError(f"{source}: not a COCO keypoints file ({exc})") from exc
    if not faces and review is None:
        raise AnnotationFormatError(
            f"{source}: no keypoint annotations" + (f" for {image_name}" if image_name else "")
        )
    return AnnotationRecord(faces, review)


# --- CSV ------------------------------------------------------------------------------------

CSV_HEADER = [
    "face",
    "point",
    "name",
    "x",
    "y",
    "visible",
    "edited",
    "definition",
    "origin",
    "model",
    "confidence",
    "review",
    "flags",
    "note",
]
#: The columns every CSV file must have (files from before the review fields lack the others).
CSV_REQUIRED = CSV_HEADER[:5]


def to_csv(
    faces: list[FaceAnnotation], review: ReviewState | None = None, previous: object = None
) -> str:
    """One row per point; the face's fields (definition, origin, model as compact JSON,
    confidence) and the image's (review, flags joined by ``;``, note) on every row; an image
    without faces is one row with ``face`` and ``point`` empty."""
    review = review or ReviewState()
    image = [review.state, ";".join(review.flags), review.note]
    rows: list[list[object]] = []
    for k, face in enumerate(faces):
        meta = face_meta(face)
        model = json.dumps(meta["model"], separators=(",", ":")) if meta["model"] else ""
        confidence = "" if meta["confidence"] is None else f"{meta['confidence']:.4f}"
        fields = [meta["definition"] or "", meta["origin"] or "", model, confidence]
        for i, ((x, y), vis, ed) in enumerate(zip(face.landmarks, face.visible, face.edited)):
            rows.append(
                [k, i + 1, _name(i, len(face.landmarks)), f"{x:.3f}", f"{y:.3f}", int(vis), int(ed)]
                + fields
                + image
            )
    if not faces:
        rows.append([""] * (len(CSV_HEADER) - len(image)) + image)
    header, rows = keep_csv_extras(CSV_HEADER, rows, previous)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def from_csv(text: str, source: str) -> list[FaceAnnotation]:
    return csv_record(text, source).faces


def csv_record(text: str, source: str) -> AnnotationRecord:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or set(CSV_REQUIRED) - set(rows[0]):
        raise AnnotationFormatError(f"{source}: expected the columns {', '.join(CSV_HEADER)}")
    groups: dict[int, list[tuple[int, float, float, bool, bool]]] = {}
    metas: dict[int, dict] = {}
    review = None
    try:
        for row in rows:
            if row.get("review") in ("reviewed", "unreviewed") and review is None:
                flags = (row.get("flags") or "").split(";")
                review = ReviewState(
                    row["review"] == "reviewed", tuple(f for f in flags if f), row.get("note") or ""
                )
            if (row.get("face") or "") == "":
                continue  # the row of an image without faces
            face = int(row["face"])
            groups.setdefault(face, []).append(
                (
                    int(row["point"]),
                    float(row["x"]),
                    float(row["y"]),
                    row.get("visible", "1") not in ("0", "false", "False"),
                    row.get("edited", "0") in ("1", "true", "True"),
                )
            )
            if face not in metas:
                model = row.get("model") or ""
                metas[face] = {
                    "definition": row.get("definition"),
                    "origin": row.get("origin"),
                    "model": json.loads(model) if model.startswith("{") else None,
                    "confidence": float(row["confidence"]) if row.get("confidence") else None,
                }
    except (ValueError, TypeError) as exc:
        raise AnnotationFormatError(f"{source}: malformed row ({exc})") from exc
    faces = []
    for k in sorted(groups):
        pts = sorted(groups[k])
        if [p[0] for p in pts] != list(range(1, len(pts) + 1)):
            raise AnnotationFormatError(f"{source}: face {k} points are not 1..{len(pts)}")
        face = FaceAnnotation.from_points(
            np.array([p[1:3] for p in pts]), np.array([p[3] for p in pts]), source="csv"
        )
        face.edited[:] = [p[4] for p in pts]
        apply_face_meta(face, metas.get(k))
        faces.append(face)
    if not faces and review is None:
        raise AnnotationFormatError(f"{source}: no points in the file")
    return AnnotationRecord(faces, review)


# --- .mat (300W-LP / AFLW2000-3D) -----------------------------------------------------------


def from_mat(path: Path) -> list[FaceAnnotation]:
    """``pt3d_68`` (AFLW2000-3D) or ``pt2d`` with 68 points (300W-LP); 1-based -> 0-based.
    The pose comes from ``Pose_Para`` (radians -> degrees)."""
    from mtface.core.formats.matfile import MatFileError, load_mat

    try:
        mat = load_mat(path)
    except MatFileError as exc:
        raise AnnotationFormatError(f"{path}: cannot read the .mat file ({exc})") from exc
    if "pt3d_68" in mat:
        pts = np.asarray(mat["pt3d_68"], dtype=np.float64)[:2].T
    elif "pt2d" in mat and np.asarray(mat["pt2d"]).shape == (2, 68):
        pts = np.asarray(mat["pt2d"], dtype=np.float64).T
    else:
        raise AnnotationFormatError(f"{path}: no 68-point landmarks (pt3d_68 or pt2d 2x68)")
    pose = None
    if "Pose_Para" in mat:
        p, y, r = np.rad2deg(np.asarray(mat["Pose_Para"]).ravel()[:3])
        pose = Pose(float(p), float(y), float(r))
    return [FaceAnnotation.from_points(pts - 1.0, source="mat", pose=pose)]


# --- dispatch -------------------------------------------------------------------------------


def annotation_path(image_path: Path, fmt: str = "labelme", face: int | None = None) -> Path:
    """Where the studio saves an image's annotation: beside the image, labelme style
    (``photo.json``); ``photo.jpg.json`` when another image of the folder has the same stem
    (``photo.png``), so two images never share one annotation."""
    image_path = Path(image_path)
    stem = _annotation_stem(image_path)
    if fmt == "pts" and face is not None:
        return image_path.with_name(f"{stem}_face{face}.pts")
    return image_path.with_name(stem + SUFFIX[fmt])


def _annotation_stem(image_path: Path) -> str:
    from mtface.core.imageio import IMAGE_SUFFIXES

    own = image_path.suffix
    for suffix in IMAGE_SUFFIXES:
        for other in {suffix, suffix.upper()}:
            sibling = image_path.with_suffix(other)
            if other != own and sibling.is_file() and not _same_file(sibling, image_path):
                return image_path.name
    return image_path.stem


def _same_file(a: Path, b: Path) -> bool:
    """``photo.JPG`` and ``photo.jpg`` are one file on a case-insensitive file system."""
    try:
        return a.samefile(b)
    except OSError:
        return False


def _check_image_path(data: dict, image_name: str | None, source: str) -> None:
    """A labelme file names its image (``imagePath``): refuse it for another image."""
    named = data.get("imagePath")
    if image_name is None or not isinstance(named, str) or not named.strip():
        return
    if Path(named.replace("\\", "/")).name != Path(image_name).name:
        raise AnnotationFormatError(
            f"{source}: the annotation belongs to {named!r}, not to {image_name!r}"
        )


def write_annotation(
    path: Path,
    fmt: str,
    faces: list[FaceAnnotation],
    image_name: str,
    image_size: tuple[int, int],
    review: ReviewState | None = None,
) -> list[Path]:
    """Write ``faces`` and the image's ``review`` state (default: unreviewed) in ``fmt``; .pts
    writes one file per face (``_faceK`` when several) and the sidecar, as one set (all or
    none). Fields of the file being replaced that mtface does not know are kept. Raises
    ValueError for NaN / infinite points (nothing written)."""
    if not all(np.isfinite(f.landmarks).all() for f in faces):
        raise ValueError(f"refusing to write {path}: NaN or infinite landmark coordinates")
    review = review or ReviewState()
    path = Path(path)
    if fmt == "labelme":
        data = to_labelme(faces, image_name, image_size, review, read_previous(path, "json"))
        return [atomic_write_json(path, data)]
    if fmt == "coco":
        data = to_coco(faces, image_name, image_size, review, read_previous(path, "json"))
        return [atomic_write_json(path, data)]
    if fmt == "csv":
        return [atomic_write_text(path, to_csv(faces, review, read_previous(path, "csv")))]
    if fmt == "pts":
        return write_pts_set(path, faces, image_name, review)
    raise ValueError(f"unknown annotation format {fmt!r}; use one of {FORMATS}")


def read_annotation(path: Path, image_name: str | None = None) -> list[FaceAnnotation]:
    """Read any supported annotation file's faces (format by suffix and content). With
    ``image_name``, a labelme file made for another image is refused. Raises
    AnnotationFormatError for anything malformed, NaN or infinite coordinates included."""
    return read_annotation_record(path, image_name).faces


def read_annotation_record(path: Path, image_name: str | None = None) -> AnnotationRecord:
    """``read_annotation`` with the image's review state (None when the file has none). A file
    may hold no face when it records a review state (an image a person marked as having
    none)."""
    record = _read_any(Path(path), image_name)
    for k, face in enumerate(record.faces):
        if len(face.landmarks) == 0 or not np.isfinite(face.landmarks).all():
            raise AnnotationFormatError(
                f"{path}: face {k} has no points, or NaN or infinite coordinates"
            )
    return record


def find_annotation(image_path: Path, formats: tuple[str, ...] = FORMATS) -> Path | None:
    """The annotation file of an image that the studio opens: the first of ``formats`` found
    beside it (labelme first by default; for .pts the sidecar, else ``<stem>.pts``, else
    ``<stem>_face0.pts``)."""
    image_path = Path(image_path)
    stem = _annotation_stem(image_path)  # once: it looks at the image's siblings
    for fmt in formats:
        names = [stem + SUFFIX[fmt]]
        if fmt == "pts":
            names = [f"{stem}.pts.json", f"{stem}.pts", f"{stem}_face0.pts"]
        for name in names:
            candidate = image_path.with_name(name)
            if candidate.is_file():
                return candidate
    return None


def _read_any(path: Path, image_name: str | None) -> AnnotationRecord:
    suffix = path.suffix.lower()
    if suffix == ".pts":
        return read_pts_record(path, image_name)
    if suffix == ".mat":
        return AnnotationRecord(from_mat(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationFormatError(f"{path}: cannot read ({exc})") from exc
    if suffix == ".csv":
        return csv_record(text, str(path))
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotationFormatError(f"{path}: invalid JSON ({exc})") from exc
        if isinstance(data, dict) and "shapes" in data:
            _check_image_path(data, image_name, str(path))
            return labelme_record(data, str(path))
        if isinstance(data, dict) and "annotations" in data and "images" in data:
            return coco_record(data, str(path), image_name)
        if isinstance(data, dict) and data.get("schema") == SIDECAR_SCHEMA:
            return read_pts_record(path, image_name)
        raise AnnotationFormatError(f"{path}: JSON that is neither labelme nor COCO")
    raise AnnotationFormatError(f"{path}: unknown annotation format {suffix!r}")
