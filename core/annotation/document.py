"""One image open in the studio: the picture, its annotation session, the model's prediction
and where its annotation lives on disk. Pure Python; the GUI drives it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.record import ReviewState
from mtface.core.annotation.record_edits import DefinitionChange, adopt_definition, replace_record
from mtface.core.annotation.session import AnnotationSession
from mtface.core.formats.annotations import (
    FORMATS,
    annotation_path,
    find_annotation,
    read_annotation_record,
    write_annotation,
)
from mtface.core.formats.pts import AnnotationFormatError
from mtface.core.imageio import load_image
from mtface.core.types import Prediction


def set_aside_path(path: Path, now: float | None = None) -> Path:
    """Where an unreadable annotation file is moved before a save takes its name:
    ``<name>.bad-YYYYmmdd-HHMMSS`` (a counter is added when that exists too)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    candidate = path.with_name(f"{path.name}.bad-{stamp}")
    k = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bad-{stamp}-{k}")
        k += 1
    return candidate


@dataclass
class ImageDocument:
    """``annotation_error`` holds the message when the existing annotation file could not be
    read (``unreadable`` is that file). Saving over it first moves it aside to
    ``<name>.bad-<timestamp>`` (``set_aside`` then names where), so the new file is the one the
    studio loads next time and the old bytes are kept (docs/adr/0010-unreadable-annotations.md).
    """

    path: Path
    image: np.ndarray
    session: AnnotationSession = field(default_factory=AnnotationSession)
    prediction: Prediction | None = None
    loaded_from: Path | None = None
    annotation_error: str | None = None
    unreadable: Path | None = None
    set_aside: Path | None = None

    def __post_init__(self) -> None:
        self.session.bounds = self.image_size
        self._found: Path | None = None  # find_annotation's answer, kept between file changes
        self._looked = False

    def _annotation_file(self) -> Path | None:
        """The image's annotation file (find_annotation), looked up again only after this
        document read or wrote one: the status is asked on every drag step."""
        if not self._looked:
            self._found, self._looked = find_annotation(self.path), True
        return self._found

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def has_saved_annotation(self) -> bool:
        """A readable annotation file beside the image (never true for a malformed one)."""
        saved = self._annotation_file()
        return saved is not None and saved != self.unreadable

    @property
    def annotation_state(self) -> str:
        """ "saved", "unreadable" or "none" (the review queue's ImageStatus.annotation)."""
        if self.has_saved_annotation:
            return "saved"
        saved = self._annotation_file()
        return "unreadable" if saved is not None and saved == self.unreadable else "none"

    @property
    def review(self) -> ReviewState:
        """The image's review state (reviewed, flags, note): part of the undoable session."""
        return self.session.review

    @staticmethod
    def open(path: Path) -> ImageDocument:
        """Read the image (ImageLoadError when unusable) and its annotation if any: labelme
        first, else a COCO, CSV or .pts file beside it (core/formats/annotations.py)."""
        doc = ImageDocument(Path(path), load_image(path))
        saved = find_annotation(doc.path)
        if saved is not None:
            doc.load_annotation(saved)
        return doc

    def load_annotation(self, path: Path) -> None:
        """Replace the faces and review state by an annotation file's (a fresh history: the
        file as opened); on failure record the error (and keep the faces)."""
        try:
            record = read_annotation_record(path, self.path.name)
        except AnnotationFormatError as exc:
            self.annotation_error = str(exc)
            self.unreadable = Path(path)
            return
        self.session.review = record.review or ReviewState()
        self.session.set_faces(record.faces)
        self.loaded_from = Path(path)
        self.annotation_error = None
        self.unreadable = None

    def load_annotation_as_edit(self, path: Path) -> bool:
        """Ctrl+L: an annotation file's faces (and review state, when it has one) replace the
        current ones as one undoable, unsaved change. False (and ``annotation_error`` set) when
        the file cannot be read; nothing changes then."""
        try:
            record = read_annotation_record(path, self.path.name)
        except AnnotationFormatError as exc:
            self.annotation_error = str(exc)
            return False
        self.annotation_error = None
        replace_record(self.session, record.faces, record.review, f"load {Path(path).name}")
        self.loaded_from = Path(path)
        return True

    def apply_prediction(
        self,
        prediction: Prediction,
        confidences: list[float] | None = None,
        model: dict | None = None,
    ) -> None:
        """Take the model's result: as the faces when nothing was loaded from a file,
        otherwise only as the reference shown beside the loaded annotation. ``confidences``
        (one per face, core/confidence.py's image-vs-mirror) replace the stage-based ones;
        ``model`` (name, hash) is recorded on each face."""
        self.prediction = prediction
        if self.loaded_from is None and not self.session.dirty:
            faces = [FaceAnnotation.from_face(f, model=model) for f in prediction.faces]
            for face, value in zip(faces, confidences or []):
                face.confidence = value
            self.session.set_faces(faces)
        elif self.loaded_from is not None:
            # attach the model's mesh and pose to the loaded faces they match
            for ann in self.session.faces:
                centre = ann.landmarks.mean(0)
                best = min(
                    prediction.faces,
                    default=None,
                    key=lambda f: np.linalg.norm(f.landmarks_2d.mean(0) - centre),
                )
                if best is not None and ann.face is None:
                    ann.face = best
                    if ann.pose is None:
                        ann.pose = best.pose
                    if ann.confidence is None:
                        ann.confidence = FaceAnnotation.from_face(best).confidence

    def match_faces(self, prediction: Prediction) -> list[tuple[int, object]]:
        """(index of an annotated face, the predicted face nearest to it), for each annotated
        face that the model found too (each predicted face used once)."""
        pairs, free = [], list(prediction.faces)
        for index, ann in enumerate(self.session.faces):
            if not free or len(ann.landmarks) != 68:
                continue
            centre = ann.landmarks.mean(0)
            best = min(free, key=lambda f: np.linalg.norm(f.landmarks_2d.mean(0) - centre))
            size = max(float(np.ptp(ann.landmarks, axis=0).max()), 1.0)
            if np.linalg.norm(best.landmarks_2d.mean(0) - centre) < 0.5 * size:
                pairs.append((index, best))
                free.remove(best)
        return pairs

    def adopt_definition(self, prediction: Prediction, definition: str) -> list[DefinitionChange]:
        """J: the annotated faces take the model's points in ``definition`` except those a
        person edited (core/annotation/record_edits.py); the prediction becomes the reference."""
        self.prediction = prediction
        return adopt_definition(self.session, self.match_faces(prediction), definition)

    def reference_landmarks(self) -> np.ndarray | None:
        """The model's landmarks of the selected face when a file annotation is shown."""
        if self.loaded_from is None:
            return None
        face = self.session.current()
        return None if face is None or face.face is None else face.face.landmarks[:, :2]

    def min_confidence(self) -> float | None:
        """The lowest confidence of the faces (None when none is known)."""
        values = [f.confidence for f in self.session.faces if f.confidence is not None]
        return min(values) if values else None

    def formats_to_save(self, chosen: tuple[str, ...] = ("labelme",)) -> tuple[str, ...]:
        """``chosen`` plus every format whose file is already beside the image (an earlier
        export): a save keeps them all current."""
        present = {f for f in FORMATS if find_annotation(self.path, (f,)) is not None}
        return tuple(f for f in FORMATS if f in chosen or f in present)

    def save_all(self, chosen: tuple[str, ...] = ("labelme",)) -> list[Path]:
        """Save in every format of ``formats_to_save(chosen)``, labelme first; returns every
        file written. A failure stops at that format (the files written before it are current,
        the session stays unsaved)."""
        written: list[Path] = []
        aside = None
        for fmt in self.formats_to_save(chosen):
            written += self.save(fmt, mark_saved=False)
            aside = aside or self.set_aside
        self.set_aside = aside
        self.session.mark_saved()
        return written

    def save(
        self, fmt: str = "labelme", target: Path | None = None, mark_saved: bool = True
    ) -> list[Path]:
        """Write the faces and the review state (atomically), every point inside the image.
        An unreadable annotation file at the target is first moved aside (``set_aside``),
        never overwritten and never left to shadow the new file."""
        path = Path(target) if target is not None else annotation_path(self.path, fmt)
        self.set_aside = None
        if self.unreadable is not None and path == self.unreadable and path.exists():
            aside = set_aside_path(path)
            os.replace(path, aside)
            self.set_aside = aside
        clamp = self.session.clamp
        faces = [replace(f, landmarks=clamp(f.landmarks)) for f in self.session.faces]
        self._looked = False
        written = write_annotation(
            path, fmt, faces, self.path.name, self.image_size, self.session.review
        )
        if path == self.unreadable:
            self.unreadable = None
            self.annotation_error = None
        if mark_saved:
            self.session.mark_saved()
        return written
