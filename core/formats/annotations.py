"""Landmark annotation formats people use: labelme JSON, COCO keypoints, CSV, iBUG .pts, and
the 300W-LP / AFLW2000-3D ``.mat`` files (read only).

All readers return ``list[FaceAnnotation]`` and raise AnnotationFormatError for malformed files;
all writers are atomic. Coordinates in files are image pixels; in memory 0-based pixel centres
(labelme, COCO and CSV files use the same 0-based values; .pts is 1-based, .mat is 1-based).

* labelme: one point shape per landmark; ``label`` is the 1-based index, ``group_id`` the face,
  ``description`` the landmark name, ``flags`` {"visible": bool, "edited": bool}. labelme opens
  these files (flags are free-form there).
* COCO: ``v`` = 2 visible, 1 labelled but occluded (never collapsed into 2), 0 not labelled.
* The model's confidence in each face (core/confidence.py; None for faces a person made):
  labelme ``"mtface": {"confidence": [per face]}``, COCO ``mtface_confidence`` per annotation.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.formats.atomic import (
    atomic_write_json,
    atomic_write_set,
    atomic_write_text,
    text_writer,
)
from mtface.core.formats.pts import AnnotationFormatError, format_pts, read_pts
from mtface.core.topology import ibug68_edges, ibug68_name
from mtface.core.types import Pose

FORMATS = ("labelme", "coco", "csv", "pts")
#: More landmarks than this in one face is not an annotation (and would exhaust memory).
MAX_POINTS = 10_000
SUFFIX = {"labelme": ".json", "coco": ".coco.json", "csv": ".csv", "pts": ".pts"}


def _name(i: int, count: int) -> str:
    return ibug68_name(i) if count == 68 else f"point {i + 1}"


# --- labelme --------------------------------------------------------------------------------


def to_labelme(faces: list[FaceAnnotation], image_name: str, image_size: tuple[int, int]) -> dict:
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
    return {
        "version": "5.5.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_name,
        "imageData": None,
        "imageHeight": int(image_size[0]),
        "imageWidth": int(image_size[1]),
        "mtface": {"confidence": [_confidence(f) for f in faces]},
    }


def _confidence(face: FaceAnnotation) -> float | None:
    """The model's confidence in a face (core/confidence.py), rounded, or None."""
    return None if face.confidence is None else round(float(face.confidence), 4)


def _read_confidence(values: object, k: int) -> float | None:
    try:
        value = values[k]  # type: ignore[index]
        return None if value is None else float(value)
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def from_labelme(data: dict, source: str) -> list[FaceAnnotation]:
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
        extra = data.get("mtface")
        ann.confidence = _read_confidence(
            extra.get("confidence") if isinstance(extra, dict) else None, len(faces)
        )
        faces.append(ann)
    if not faces:
        raise AnnotationFormatError(f"{source}: no landmark points in the file")
    return faces


# --- COCO -----------------------------------------------------------------------------------


def to_coco(faces: list[FaceAnnotation], image_name: str, image_size: tuple[int, int]) -> dict:
    count = len(faces[0].landmarks) if faces else 68
    annotations = []
    for k, face in enumerate(faces):
        kps = []
        for (x, y), vis in zip(face.landmarks, face.visible):
            kps += [round(float(x), 3), round(float(y), 3), 2 if vis else 1]
        x0, y0 = face.landmarks.min(0)
        x1, y1 = face.landmarks.max(0)
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
                "mtface_confidence": _confidence(face),
            }
        )
    return {
        "info": {"description": "mtface landmarks; v: 2 visible, 1 labelled but occluded"},
        "images": [
            {
                "id": 1,
                "file_name": image_name,
                "height": int(image_size[0]),
                "width": int(image_size[1]),
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


def from_coco(data: dict, source: str, image_name: str | None = None) -> list[FaceAnnotation]:
    try:
        images = {im["id"]: im["file_name"] for im in data["images"]}
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
            faces.append(face)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnotationFormatError(f"{source}: not a COCO keypoints file ({exc})") from exc
    if not faces:
        raise AnnotationFormatError(
            f"{source}: no keypoint annotations" + (f" for {image_name}" if image_name else "")
        )
    return faces


# --- CSV ------------------------------------------------------------------------------------

CSV_HEADER = ["face", "point", "name", "x", "y", "visible", "edited"]


def to_csv(faces: list[FaceAnnotation]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for k, face in enumerate(faces):
        for i, ((x, y), vis, ed) in enumerate(zip(face.landmarks, face.visible, face.edited)):
            writer.writerow(
                [k, i + 1, _name(i, len(face.landmarks)), f"{x:.3f}", f"{y:.3f}", int(vis), int(ed)]
            )
    return buffer.getvalue()


def from_csv(text: str, source: str) -> list[FaceAnnotation]:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or set(CSV_HEADER[:5]) - set(rows[0]):
        raise AnnotationFormatError(f"{source}: expected the columns {', '.join(CSV_HEADER)}")
    groups: dict[int, list[tuple[int, float, float, bool, bool]]] = {}
    try:
        for row in rows:
            groups.setdefault(int(row["face"]), []).append(
                (
                    int(row["point"]),
                    float(row["x"]),
                    float(row["y"]),
                    row.get("visible", "1") not in ("0", "false", "False"),
                    row.get("edited", "0") in ("1", "true", "True"),
                )
            )
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
        faces.append(face)
    return faces


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
    path: Path, fmt: str, faces: list[FaceAnnotation], image_name: str, image_size: tuple[int, int]
) -> list[Path]:
    """Write ``faces`` in ``fmt``; .pts writes one file per face (``_faceK`` when several, as
    one set: all or none). Raises ValueError for NaN / infinite points (nothing written)."""
    if not all(np.isfinite(f.landmarks).all() for f in faces):
        raise ValueError(f"refusing to write {path}: NaN or infinite landmark coordinates")
    if fmt == "labelme":
        return [atomic_write_json(path, to_labelme(faces, image_name, image_size))]
    if fmt == "coco":
        return [atomic_write_json(path, to_coco(faces, image_name, image_size))]
    if fmt == "csv":
        return [atomic_write_text(path, to_csv(faces))]
    if fmt == "pts":
        if len(faces) == 1:
            return [atomic_write_text(path, format_pts(faces[0].landmarks))]
        return atomic_write_set(
            [
                (path.with_name(f"{path.stem}_face{k}.pts"), text_writer(format_pts(f.landmarks)))
                for k, f in enumerate(faces)
            ]
        )
    raise ValueError(f"unknown annotation format {fmt!r}; use one of {FORMATS}")


def read_annotation(path: Path, image_name: str | None = None) -> list[FaceAnnotation]:
    """Read any supported annotation file (format by suffix and content). With
    ``image_name``, a labelme file made for another image is refused. Raises
    AnnotationFormatError for anything malformed, NaN or infinite coordinates included."""
    faces = _read_any(Path(path), image_name)
    for k, face in enumerate(faces):
        if len(face.landmarks) == 0 or not np.isfinite(face.landmarks).all():
            raise AnnotationFormatError(
                f"{path}: face {k} has no points, or NaN or infinite coordinates"
            )
    return faces


def _read_any(path: Path, image_name: str | None) -> list[FaceAnnotation]:
    suffix = path.suffix.lower()
    if suffix == ".pts":
        return [FaceAnnotation.from_points(read_pts(path), source="pts")]
    if suffix == ".mat":
        return from_mat(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationFormatError(f"{path}: cannot read ({exc})") from exc
    if suffix == ".csv":
        return from_csv(text, str(path))
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotationFormatError(f"{path}: invalid JSON ({exc})") from exc
        if isinstance(data, dict) and "shapes" in data:
            _check_image_path(data, image_name, str(path))
            return from_labelme(data, str(path))
        if isinstance(data, dict) and "annotations" in data and "images" in data:
            return from_coco(data, str(path), image_name)
        raise AnnotationFormatError(f"{path}: JSON that is neither labelme nor COCO")
    raise AnnotationFormatError(f"{path}: unknown annotation format {suffix!r}")
