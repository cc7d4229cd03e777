"""Fields mtface does not know, kept when it writes an annotation file again.

A labelme file may hold rectangles, polygons and flags of the person's own; a COCO file
``licenses`` or extra keys per annotation; a CSV file extra columns. When the studio saves over
such a file, ``read_previous`` parses the file being replaced and the ``keep_*`` functions copy
what mtface's own writer does not produce into the new content. Per-face and per-point extras
are kept only while the number of faces is unchanged (otherwise they could land on another
face). An unreadable previous file gives nothing to keep (it is set aside by the caller).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

_POINT_KEYS = {"label", "points", "group_id", "description", "shape_type", "flags", "mask"}


def read_previous(path: Path, kind: str) -> object:
    """The file at ``path`` parsed: ``kind`` "json" a dict, "csv" (header, rows as dicts);
    None when absent or unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None
    reader = csv.DictReader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error:
        return None
    return (list(reader.fieldnames or []), rows)


def _merge_missing(ours: dict, theirs: object) -> None:
    """Copy into ``ours`` the keys of ``theirs`` it lacks."""
    if isinstance(theirs, dict):
        for key, value in theirs.items():
            ours.setdefault(key, value)


def keep_labelme_extras(data: dict, previous: object, n_faces: int) -> dict:
    """``data`` plus ``previous``'s unknown top-level keys, image flags, ``mtface`` keys,
    non-point shapes and (same face count) unknown keys and flags of each point shape."""
    if not isinstance(previous, dict):
        return data
    _merge_missing(data, previous)
    if previous.get("imageData"):
        data["imageData"] = previous["imageData"]
    _merge_missing(data["flags"], previous.get("flags"))
    _merge_missing(data["mtface"], previous.get("mtface"))
    shapes = previous.get("shapes") if isinstance(previous.get("shapes"), list) else []
    shapes = [s for s in shapes if isinstance(s, dict)]
    points = {
        (s.get("group_id") or 0, str(s.get("label"))): s
        for s in shapes
        if s.get("shape_type", "point") == "point"
    }
    if len({group for group, _ in points}) == n_faces:
        for shape in data["shapes"]:
            old = points.get((shape["group_id"], shape["label"]))
            if old is not None:
                _merge_missing(shape, {k: v for k, v in old.items() if k not in _POINT_KEYS})
                _merge_missing(shape["flags"], old.get("flags"))
    data["shapes"] += [s for s in shapes if s.get("shape_type", "point") != "point"]
    return data


def keep_coco_extras(data: dict, previous: object) -> dict:
    """``data`` plus ``previous``'s unknown keys: top level, ``info``, the image (a file of one
    image), each annotation (same count) and the category."""
    if not isinstance(previous, dict):
        return data
    _merge_missing(data, previous)
    _merge_missing(data["info"], previous.get("info"))
    for key, same_count in (("images", False), ("annotations", True), ("categories", False)):
        old = previous.get(key)
        if not isinstance(old, list) or len(old) != len(data[key]):
            continue
        if not same_count and len(old) != 1:
            continue
        for ours, theirs in zip(data[key], old):
            _merge_missing(ours, theirs)
    return data


def keep_csv_extras(
    header: list[str], rows: list[list[object]], previous: object
) -> tuple[list[str], list[list[object]]]:
    """``header`` and ``rows`` with ``previous``'s extra columns appended, their values found
    by (face, point) while the face count is unchanged (empty otherwise)."""
    if not isinstance(previous, tuple):
        return header, rows
    old_header, old_rows = previous
    extra = [c for c in old_header if c and c not in header]
    if not extra:
        return header, rows
    by_key = {(r.get("face") or "", r.get("point") or ""): r for r in old_rows}
    same = len({r.get("face") for r in old_rows}) == len({str(r[0]) for r in rows})
    out = []
    for row in rows:
        old = by_key.get((str(row[0]), str(row[1]))) if same else None
        out.append(row + [(old or {}).get(c, "") or "" for c in extra])
    return header + extra, out
