"""What one annotation file holds besides the points: the image's review state (reviewed or not,
flags, a note) and, per face, where its points come from (the landmark definition, the model
that proposed them, whether a person drew the face). Plain data, no Qt, no file format: the
formats (core/formats/annotations.py) write and read it, the studio edits it.

docs/formats.md lists how each format stores these fields (docs/adr/0016-review-state.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mtface.core.annotation.face import FaceAnnotation

#: The flags a person can set on an image, in the order the studio shows them.
REVIEW_FLAGS = ("no face", "bad image", "occluded", "unsure")
#: The landmark definitions a face can record: "mixed" when a person's points of one definition
#: were kept while the others moved to the other definition (J in the studio).
DEFINITIONS = ("3d", "2d", "mixed")
#: Who proposed a face: the model (detector + cascade) or a person (a box drawn in the studio).
ORIGINS = ("model", "person")


@dataclass(frozen=True)
class ReviewState:
    """An image's review state. ``reviewed``: a person checked every face of the image (or
    that it has none); ``flags``: a subset of REVIEW_FLAGS (other strings read from a file are
    kept); ``note``: free text."""

    reviewed: bool = False
    flags: tuple[str, ...] = ()
    note: str = ""

    @property
    def state(self) -> str:
        """ "reviewed" or "unreviewed" (the word written to the files)."""
        return "reviewed" if self.reviewed else "unreviewed"

    def with_flag(self, flag: str, on: bool) -> ReviewState:
        """This state with ``flag`` set or cleared (known flags stay in REVIEW_FLAGS order)."""
        others = [f for f in self.flags if f != flag]
        flags = others + [flag] if on else others
        order = {f: k for k, f in enumerate(REVIEW_FLAGS)}
        flags.sort(key=lambda f: order.get(f, len(order)))
        return replace(self, flags=tuple(flags))

    def to_dict(self) -> dict:
        return {"state": self.state, "flags": list(self.flags), "note": self.note}

    @staticmethod
    def from_dict(data: object) -> ReviewState | None:
        """The state from ``{"state", "flags", "note"}``; None when ``data`` holds none (a file
        not written by mtface). Lenient: wrong types read as absent."""
        if not isinstance(data, dict) or data.get("state") not in ("reviewed", "unreviewed"):
            return None
        flags = data.get("flags")
        note = data.get("note")
        return ReviewState(
            data["state"] == "reviewed",
            tuple(str(f) for f in flags) if isinstance(flags, list) else (),
            note if isinstance(note, str) else "",
        )

    def summary(self) -> str:
        """e.g. "reviewed · occluded, unsure · note" for the list's tooltip and status bar."""
        parts = [self.state]
        if self.flags:
            parts.append(", ".join(self.flags))
        if self.note:
            parts.append(f"note: {self.note}")
        return " · ".join(parts)


@dataclass
class AnnotationRecord:
    """Everything an annotation file holds for one image: its faces and its review state
    (None when the file has no review record, e.g. a file made by another tool)."""

    faces: list[FaceAnnotation] = field(default_factory=list)
    review: ReviewState | None = None


def face_meta(face: FaceAnnotation) -> dict:
    """The provenance of a face as written to the files: definition, origin, model, confidence."""
    return {
        "definition": face.definition,
        "origin": "person" if face.drawn_by_person else "model",
        "model": dict(face.model) if face.model else None,
        "confidence": None if face.confidence is None else round(float(face.confidence), 4),
    }


def apply_face_meta(face: FaceAnnotation, meta: object) -> None:
    """Set a face's provenance from ``face_meta``'s dict (lenient: wrong values are left
    unknown, never an error: they are annotations' side facts, not the points)."""
    if not isinstance(meta, dict):
        return
    if meta.get("definition") in DEFINITIONS:
        face.definition = meta["definition"]
        face.predicted_definition = meta["definition"] if meta["definition"] != "mixed" else None
    if meta.get("origin") in ORIGINS:
        face.drawn_by_person = meta["origin"] == "person"
    if isinstance(meta.get("model"), dict):
        face.model = dict(meta["model"])
    value = meta.get("confidence")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        face.confidence = float(value)
