"""The studio's review queue, without Qt: per-image status (saved / unreadable annotation,
unsaved edits, the lowest face confidence), the order to show images in and the filters
(unsaved, low confidence), so an annotator corrects the worst faces first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mtface.core.confidence import LOW_CONFIDENCE
from mtface.core.formats.annotations import annotation_path, read_annotation
from mtface.core.formats.pts import AnnotationFormatError

SORTS = ("folder", "confidence")
FILTERS = ("all", "unsaved", "low confidence")


@dataclass
class ImageStatus:
    """``annotation``: "none", "saved" (a readable file) or "unreadable"; ``confidence``: the
    lowest confidence of the image's faces (None until known)."""

    annotation: str = "none"
    dirty: bool = False
    confidence: float | None = None

    def label(self, name: str) -> str:
        text = ("* " if self.dirty else "") + name
        if self.confidence is not None:
            text += f"  [{self.confidence:.2f}]"
        if self.annotation == "saved":
            text += "  ✓"
        elif self.annotation == "unreadable":
            text += "  ⚠ unreadable annotation"
        return text

    @property
    def unsaved(self) -> bool:
        return self.dirty or self.annotation != "saved"

    @property
    def low_confidence(self) -> bool:
        return self.confidence is not None and self.confidence < LOW_CONFIDENCE


def review_order(
    statuses: list[ImageStatus], sort: str = "folder", filter_: str = "all"
) -> list[int]:
    """Indices of the images to list, in order. ``sort`` "confidence": least confident first,
    images whose confidence is not known yet last (in folder order)."""
    if sort not in SORTS or filter_ not in FILTERS:
        raise ValueError(f"sort must be one of {SORTS}, filter one of {FILTERS}")
    keep = [
        i
        for i, s in enumerate(statuses)
        if filter_ == "all"
        or (filter_ == "unsaved" and s.unsaved)
        or (filter_ == "low confidence" and s.low_confidence)
    ]
    if sort == "confidence":
        keep.sort(key=lambda i: (statuses[i].confidence is None, statuses[i].confidence or 0.0, i))
    return keep


def scan_annotation(image_path: Path) -> ImageStatus:
    """The status of an image's saved annotation file: none, saved (with the lowest
    recorded confidence) or unreadable."""
    path = annotation_path(Path(image_path))
    if not path.exists():
        return ImageStatus()
    try:
        faces = read_annotation(path, Path(image_path).name)
    except (AnnotationFormatError, json.JSONDecodeError, OSError):
        return ImageStatus("unreadable")
    values = [f.confidence for f in faces if f.confidence is not None]
    return ImageStatus("saved", False, min(values) if values else None)
