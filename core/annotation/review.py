"""The studio's review queue, without Qt: per-image status (saved / unreadable annotation,
unsaved edits, reviewed or not, flags, faces found, the lowest face confidence, an image that
cannot be read), the order to show images in and the filters (unsaved, unreviewed, low
confidence), so an annotator corrects the worst faces first and sees what is left."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mtface.core.confidence import LOW_CONFIDENCE
from mtface.core.formats.annotations import find_annotation, read_annotation_record
from mtface.core.formats.pts import AnnotationFormatError

SORTS = ("folder", "confidence")
FILTERS = ("all", "unsaved", "unreviewed", "low confidence")
#: The list's icon of an image (gui/review.py draws one per state), most urgent first.
STATES = (
    "unreadable image",
    "unreadable annotation",
    "unsaved",
    "no face",
    "reviewed",
    "unreviewed",
)


@dataclass
class ImageStatus:
    """``annotation``: "none", "saved" (a readable file) or "unreadable"; ``confidence``: the
    lowest confidence of the image's faces (None until known); ``reviewed``, ``flags``: the
    image's review state; ``faces``: how many faces it has (None until known);
    ``image_error``: the image itself cannot be read."""

    annotation: str = "none"
    dirty: bool = False
    confidence: float | None = None
    reviewed: bool = False
    flags: tuple[str, ...] = ()
    faces: int | None = None
    image_error: bool = False

    @property
    def state(self) -> str:
        """The one state the list's icon shows (STATES, most urgent first)."""
        if self.image_error:
            return "unreadable image"
        if self.annotation == "unreadable":
            return "unreadable annotation"
        if self.dirty:
            return "unsaved"
        if self.faces == 0 or "no face" in self.flags:
            return "no face"
        return "reviewed" if self.reviewed else "unreviewed"

    def label(self, name: str) -> str:
        text = ("* " if self.dirty else "") + name
        if self.confidence is not None:
            text += f"  [{self.confidence:.2f}]"
        if self.image_error:
            return text + "  ⚠ unreadable image"
        if self.annotation == "saved":
            text += "  ✓"
        elif self.annotation == "unreadable":
            text += "  ⚠ unreadable annotation"
        if self.reviewed:
            text += " reviewed"
        if self.faces == 0 and "no face" not in self.flags:
            text += "  ∅ no face found"
        if self.flags:
            text += "  ⚑ " + ", ".join(self.flags)
        return text

    @property
    def unsaved(self) -> bool:
        return self.dirty or self.annotation != "saved"

    @property
    def unreviewed(self) -> bool:
        """Not yet checked by a person (unreadable images count as nothing to review)."""
        return not self.reviewed and not self.image_error

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
        or (filter_ == "unreviewed" and s.unreviewed)
        or (filter_ == "low confidence" and s.low_confidence)
    ]
    if sort == "confidence":
        keep.sort(key=lambda i: (statuses[i].confidence is None, statuses[i].confidence or 0.0, i))
    return keep


def next_unreviewed(statuses: list[ImageStatus], order: list[int], current: int) -> int:
    """The first unreviewed image after ``current`` in ``order`` (wrapping round; ``current``
    itself last); -1 when every image is reviewed."""
    start = order.index(current) + 1 if current in order else 0
    for index in order[start:] + order[:start]:
        if statuses[index].unreviewed:
            return index
    return -1


def review_counts(statuses: list[ImageStatus]) -> tuple[int, int]:
    """(reviewed, images that can be reviewed) for "reviewed N of M"."""
    usable = [s for s in statuses if not s.image_error]
    return sum(s.reviewed for s in usable), len(usable)


def scan_annotation(image_path: Path) -> ImageStatus:
    """The status of an image's saved annotation file: none, saved (with the lowest
    recorded confidence, the face count and the review state) or unreadable."""
    path = find_annotation(Path(image_path))
    if path is None:
        return ImageStatus()
    try:
        record = read_annotation_record(path, Path(image_path).name)
    except (AnnotationFormatError, json.JSONDecodeError, OSError):
        return ImageStatus("unreadable")
    values = [f.confidence for f in record.faces if f.confidence is not None]
    review = record.review
    return ImageStatus(
        "saved",
        False,
        min(values) if values else None,
        reviewed=bool(review and review.reviewed),
        flags=review.flags if review else (),
        faces=len(record.faces),
    )
