"""Undoable changes of what an image's annotation record says besides single points: its review
state, a whole annotation loaded from a file (Ctrl+L), the faces moved to the other landmark
definition (J) and a face reset to the model's points in the current definition (Shift+R).

Each is one AnnotationSession command, so it is undone, redone and counted as an unsaved change
like any edit (docs/adr/0016-review-state.md, docs/adr/0017-one-truth-per-face.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.record import ReviewState
from mtface.core.annotation.session import (
    EVERYTHING,
    AnnotationSession,
    Command,
    FaceState,
)
from mtface.core.types import Face


def set_review(session: AnnotationSession, state: ReviewState, text: str = "") -> None:
    """Change the image's review state (reviewed, flags, note); no-op when unchanged."""
    old = session.review
    if state == old:
        return

    def apply() -> None:
        session.review = state

    def revert() -> None:
        session.review = old

    session.execute(Command(text or f"review: {state.summary()}", apply, revert, event=EVERYTHING))


def replace_record(
    session: AnnotationSession,
    faces: list[FaceAnnotation],
    review: ReviewState | None,
    text: str,
) -> None:
    """Replace every face (and the review state, when ``review`` is given) as one undoable
    change: an annotation file loaded into an open image."""
    old_faces, old_review, old_selected = list(session.faces), session.review, session.selected
    new_faces = list(faces)
    new_review = old_review if review is None else review

    def apply() -> None:
        session.faces[:] = new_faces
        session.review = new_review
        session.selected = 0

    def revert() -> None:
        session.faces[:] = old_faces
        session.review = old_review
        session.selected = old_selected

    session.execute(Command(text, apply, revert, event=EVERYTHING))


@dataclass(frozen=True)
class DefinitionChange:
    """What J did to one face: ``moved`` points took the new definition, ``kept`` (edited by a
    person) stayed; ``definition`` is the face's definition afterwards."""

    face: int
    moved: int
    kept: int
    definition: str | None


def _definition_after(face: FaceAnnotation, new: str, moved: int, kept: int) -> str:
    if kept == 0:
        return new
    if moved == 0:
        return face.definition or new
    return new if face.definition == new else "mixed"


def adopt_definition(
    session: AnnotationSession, matches: list[tuple[int, Face]], definition: str
) -> list[DefinitionChange]:
    """J on faces that already hold points: each matched face (index, the model's face in
    ``definition``) takes the new prediction; points a person edited stay where they are, the
    others move; the face's definition becomes ``definition``, or "mixed" when both kinds
    remain. One undoable command for all faces; returns what happened to each."""
    changes: list[DefinitionChange] = []
    saved = []
    for index, new in matches:
        ann = session.faces[index]
        keep = ann.edited.copy()
        moved, kept = int((~keep).sum()), int(keep.sum())
        changes.append(
            DefinitionChange(index, moved, kept, _definition_after(ann, definition, moved, kept))
        )
        saved.append((ann, new, keep, FaceState.of(ann)))
    if not saved:
        return changes

    def apply() -> None:
        for (ann, new, keep, _), change in zip(saved, changes):
            lm = new.landmarks[:, :2].astype(np.float64)
            ann.predicted_landmarks[:] = lm
            ann.predicted_visible[:] = new.visible
            ann.landmarks[~keep] = lm[~keep]
            ann.visible[~keep] = new.visible[~keep]
            ann.definition, ann.predicted_definition = change.definition, definition
            ann.face, ann.pose = new, new.pose

    def revert() -> None:
        for ann, _, _, old in saved:
            old.restore(ann)

    session.execute(Command(f"switch to {definition} landmarks", apply, revert, event=EVERYTHING))
    return changes


def reset_face_to(
    session: AnnotationSession, face_index: int | None = None, model_face: Face | None = None
) -> None:
    """Shift+R: every point of a face back to the model's, in the definition of
    ``model_face`` (the studio's current one) when given, else to the face's own prediction;
    no point stays marked as edited (:meth:`AnnotationSession.reset_face`)."""
    session.reset_face(face_index, model_face)
