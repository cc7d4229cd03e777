"""An image's iBUG ``.pts`` files as one set, with the sidecar that holds what .pts cannot.

``photo.pts`` (one face) or ``photo_face0.pts``, ``photo_face1.pts``, ... (several), 1-based
points (docs/adr/0002-pts-one-based.md), plus ``photo.pts.json``:

    {"schema": "mtface-pts-sidecar/1", "image": "photo.jpg",
     "review": {"state": "unreviewed", "flags": [], "note": ""},
     "faces": [{"file": "photo.pts", "definition": "3d", "origin": "model",
                "model": {...}, "confidence": 0.71, "visible": [...], "edited": [...]}]}

An image marked as having no face has the sidecar alone. Other tools read the .pts files as
ever; mtface reads the sidecar when it is beside them (docs/formats.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.record import AnnotationRecord, ReviewState, apply_face_meta, face_meta
from mtface.core.formats.atomic import (
    atomic_write_set,
    dumps_strict_json,
    remove_files,
    text_writer,
)
from mtface.core.formats.keep_extras import read_previous
from mtface.core.formats.pts import AnnotationFormatError, format_pts, read_pts

SIDECAR_SCHEMA = "mtface-pts-sidecar/1"
_FACE_FILE = re.compile(r"^(?P<base>.*)_face(?P<k>\d+)\.pts$")


def sidecar_path(target: Path) -> Path:
    """``photo.pts`` -> ``photo.pts.json``."""
    return Path(target).with_name(Path(target).name + ".json")


def pts_files(target: Path) -> list[Path]:
    """``photo.pts`` and every ``photo_faceK.pts`` beside ``target`` that exist."""
    target = Path(target)
    found = [target] if target.is_file() else []
    if target.parent.is_dir():
        prefix = target.stem + "_face"
        found += sorted(
            p
            for p in target.parent.iterdir()
            if p.name.startswith(prefix)
            and p.suffix == ".pts"
            and p.name[len(prefix) : -4].isdigit()
            and p.is_file()
        )
    return found


def write_pts_set(
    target: Path, faces: list[FaceAnnotation], image_name: str, review: ReviewState
) -> list[Path]:
    """Write the faces' .pts files and the sidecar as one set (all or none); .pts files of the
    set that this write does not produce (fewer faces than before) are removed after it."""
    target = Path(target)
    files = (
        [target]
        if len(faces) == 1
        else [target.with_name(f"{target.stem}_face{k}.pts") for k in range(len(faces))]
    )
    sidecar = sidecar_path(target)
    data = {
        "schema": SIDECAR_SCHEMA,
        "image": image_name,
        "review": review.to_dict(),
        "faces": [
            {
                "file": path.name,
                **face_meta(face),
                "visible": [bool(v) for v in face.visible],
                "edited": [bool(e) for e in face.edited],
            }
            for path, face in zip(files, faces)
        ],
    }
    previous = read_previous(sidecar, "json")
    if isinstance(previous, dict):
        for key, value in previous.items():
            data.setdefault(key, value)
    stale = [p for p in pts_files(target) if p not in files]
    written = atomic_write_set(
        [(path, text_writer(format_pts(face.landmarks))) for path, face in zip(files, faces)]
        + [(sidecar, text_writer(dumps_strict_json(data)))]
    )
    remove_files(stale)
    return written


def _face_from(points: np.ndarray, entry: object) -> FaceAnnotation:
    face = FaceAnnotation.from_points(points, source="pts")
    if isinstance(entry, dict):
        for key in ("visible", "edited"):
            values = entry.get(key)
            if isinstance(values, list) and len(values) == len(points):
                getattr(face, key)[:] = [bool(v) for v in values]
        face.predicted_visible[:] = face.visible
        apply_face_meta(face, entry)
    return face


def _load_sidecar(path: Path) -> dict | None:
    data = read_previous(path, "json")
    return data if isinstance(data, dict) and data.get("schema") == SIDECAR_SCHEMA else None


def read_pts_record(path: Path, image_name: str | None = None) -> AnnotationRecord:
    """A .pts file (with what its sidecar says of it) or a sidecar (every face it lists)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        data = _load_sidecar(path)
        if data is None or not isinstance(data.get("faces"), list):
            raise AnnotationFormatError(f"{path}: not an mtface .pts sidecar")
        faces = []
        for entry in data["faces"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
                raise AnnotationFormatError(f"{path}: a face without its .pts file name")
            pts_path = path.with_name(Path(entry["file"]).name)
            faces.append(_face_from(read_pts(pts_path), entry))
        return AnnotationRecord(faces, ReviewState.from_dict(data.get("review")))
    points = read_pts(path)
    match = _FACE_FILE.match(path.name)
    base = path.with_name(match["base"] + ".pts") if match else path
    data = _load_sidecar(sidecar_path(base))
    entry = None
    if data is not None and isinstance(data.get("faces"), list):
        entry = next(
            (e for e in data["faces"] if isinstance(e, dict) and e.get("file") == path.name), None
        )
    if entry is None:  # no sidecar, or one that does not list this file: the points alone
        return AnnotationRecord([FaceAnnotation.from_points(points, source="pts")])
    return AnnotationRecord([_face_from(points, entry)], ReviewState.from_dict(data.get("review")))
