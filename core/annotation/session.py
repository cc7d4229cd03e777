"""The annotation model of the studio: faces of one image, edits with undo/redo.

Pure Python (no Qt): the GUI shows it and forwards user actions as commands. Every face keeps
the model's prediction apart from the human's corrections: ``landmarks`` and ``visible`` are
the current (possibly corrected) values, ``predicted_*`` the model's, and ``edited`` marks the
points a person changed. Every change goes through :meth:`AnnotationSession.execute`, so it can
be undone and redone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.record import ReviewState
from mtface.core.types import Face, Pose


@dataclass(frozen=True)
class SessionEvent:
    """What a change touched, so that views redraw only that.

    kind: 'points' (position, visibility and edited flag of ``points`` of face ``face``),
    'face' (everything of face ``face``: a reset or a re-run prediction), 'faces' (the list of
    faces: a new prediction, a loaded file, a face added or removed), 'selection' (the selected
    face changed, nothing else)."""

    kind: str
    face: int | None = None
    points: tuple[int, ...] = ()


#: The event of a change whose extent is unknown: views redraw everything.
EVERYTHING = SessionEvent("faces")


@dataclass(frozen=True)
class FaceState:
    """A copy of what a reset, J or a re-run prediction changes in a face, so that undo can put
    it back: the (68, 2) pixel landmarks and (68,) flags, current and predicted, the
    definitions and the model's face and pose."""

    landmarks: np.ndarray
    visible: np.ndarray
    edited: np.ndarray
    predicted_landmarks: np.ndarray
    predicted_visible: np.ndarray
    definition: str | None
    predicted_definition: str | None
    face: Face | None
    pose: Pose | None

    @classmethod
    def of(cls, ann: FaceAnnotation) -> FaceState:
        return cls(
            ann.landmarks.copy(),
            ann.visible.copy(),
            ann.edited.copy(),
            ann.predicted_landmarks.copy(),
            ann.predicted_visible.copy(),
            ann.definition,
            ann.predicted_definition,
            ann.face,
            ann.pose,
        )

    def restore(self, ann: FaceAnnotation) -> None:
        """Put the copied values back into ``ann`` (in place: the arrays stay its own)."""
        ann.landmarks[:], ann.visible[:] = self.landmarks, self.visible
        ann.edited[:] = self.edited
        ann.predicted_landmarks[:] = self.predicted_landmarks
        ann.predicted_visible[:] = self.predicted_visible
        ann.definition, ann.predicted_definition = self.definition, self.predicted_definition
        ann.face, ann.pose = self.face, self.pose


@dataclass
class Command:
    """An undoable edit: ``apply`` and ``revert`` change the session; ``text`` names it.
    ``revision`` identifies the state the command leads to (set by the session); ``event``
    is what listeners hear when it is applied, undone or redone."""

    text: str
    apply: Callable[[], None]
    revert: Callable[[], None]
    merge_key: tuple | None = None
    revision: int = 0
    event: SessionEvent = EVERYTHING


@dataclass
class AnnotationSession:
    """Faces of one image and the edit history."""

    faces: list[FaceAnnotation] = field(default_factory=list)
    selected: int = 0
    _undo: list[Command] = field(default_factory=list)
    _redo: list[Command] = field(default_factory=list)
    _saved_revision: int = 0
    _next_revision: int = 1
    _open_merge: bool = False
    bounds: tuple[int, int] | None = None  # (height, width) of the image: points stay inside
    listeners: list[Callable[[SessionEvent], None]] = field(default_factory=list)
    #: The image's review state (core/annotation/record.py); changed by record_edits' commands.
    review: ReviewState = field(default_factory=ReviewState)

    # --- state ------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """Identifies the current state: 0 after a load, otherwise the revision of the last
        applied command. Undoing back to a saved state gives its revision again; a new edit
        always gets a fresh one, so a state that was saved and then undone and replaced by a
        different edit never counts as saved."""
        return self._undo[-1].revision if self._undo else 0

    @property
    def dirty(self) -> bool:
        """True when the faces differ from the last save or load."""
        return self.revision != self._saved_revision

    def mark_saved(self) -> None:
        self._saved_revision = self.revision
        self._open_merge = False

    def mark_discarded(self) -> None:
        """The person chose to drop the edits: undo them all and forget the redo branch."""
        while self._undo:
            self._undo.pop().revert()
        self._redo.clear()
        self._saved_revision = 0
        self._open_merge = False
        self._notify()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def current(self) -> FaceAnnotation | None:
        if 0 <= self.selected < len(self.faces):
            return self.faces[self.selected]
        return None

    def _notify(self, event: SessionEvent = EVERYTHING) -> None:
        for listener in list(self.listeners):
            listener(event)

    def set_faces(self, faces: list[FaceAnnotation]) -> None:
        """Replace all faces (a new prediction or a loaded file): clears the history."""
        self.faces = faces
        self.selected = 0
        self._undo.clear()
        self._redo.clear()
        self._saved_revision = 0
        self._open_merge = False
        self._notify()

    def select(self, index: int) -> None:
        if not 0 <= index < len(self.faces):
            raise IndexError(f"no face {index}")
        self.selected = index
        self._notify(SessionEvent("selection", index))

    # --- commands ---------------------------------------------------------------------------

    def execute(self, command: Command) -> None:
        """Apply a command and push it; the moves of one drag (same merge key, no undo, save
        or end_merge between them) merge into one step."""
        command.apply()
        top = self._undo[-1] if self._undo else None
        command.revision = self._next_revision
        self._next_revision += 1
        if (
            command.merge_key is not None
            and top is not None
            and self._open_merge
            and top.merge_key == command.merge_key
            and top.revision != self._saved_revision
        ):
            self._undo[-1] = Command(
                command.text,
                command.apply,
                top.revert,
                command.merge_key,
                command.revision,
                command.event,
            )
        else:
            self._undo.append(command)
        self._open_merge = command.merge_key is not None
        self._redo.clear()
        self._notify(command.event)

    def end_merge(self) -> None:
        """Close the current drag: the next move of the same point is a new undo step."""
        self._open_merge = False

    def undo(self) -> None:
        self._open_merge = False
        if not self._undo:
            return
        command = self._undo.pop()
        command.revert()
        self._redo.append(command)
        self._notify(command.event)

    def redo(self) -> None:
        self._open_merge = False
        if not self._redo:
            return
        command = self._redo.pop()
        command.apply()
        self._undo.append(command)
        self._notify(command.event)

    def clamp(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 2) limited to the image (pixel centres 0 .. size - 1)."""
        if self.bounds is None:
            return points
        h, w = self.bounds
        return np.clip(points, 0.0, [max(w - 1, 0), max(h - 1, 0)])

    # --- the edits --------------------------------------------------------------------------

    def _face(self, face_index: int | None) -> tuple[int, FaceAnnotation]:
        index = self.selected if face_index is None else face_index
        if not 0 <= index < len(self.faces):
            raise IndexError(f"no face {index}")
        return index, self.faces[index]

    def move_point(
        self, point: int, xy: tuple[float, float], face_index: int | None = None, merge: bool = True
    ) -> None:
        """Move landmark ``point`` to ``xy`` (image pixels)."""
        index, face = self._face(face_index)
        old_xy, old_edited = face.landmarks[point].copy(), bool(face.edited[point])
        new_xy = self.clamp(np.asarray(xy, dtype=np.float64))

        def apply() -> None:
            face.landmarks[point] = new_xy
            face.edited[point] = True

        def revert() -> None:
            face.landmarks[point] = old_xy
            face.edited[point] = old_edited

        self.execute(
            Command(
                f"move point {point + 1}",
                apply,
                revert,
                ("move", index, point) if merge else None,
                event=SessionEvent("points", index, (point,)),
            )
        )

    def toggle_visibility(self, point: int, face_index: int | None = None) -> None:
        index, face = self._face(face_index)
        old_vis, old_edited = bool(face.visible[point]), bool(face.edited[point])

        def apply() -> None:
            face.visible[point] = not old_vis
            face.edited[point] = True

        def revert() -> None:
            face.visible[point] = old_vis
            face.edited[point] = old_edited

        self.execute(
            Command(
                f"toggle visibility of point {point + 1}",
                apply,
                revert,
                event=SessionEvent("points", index, (point,)),
            )
        )

    def reset_point(self, point: int, face_index: int | None = None) -> None:
        """Back to the model's prediction for one point."""
        index, face = self._face(face_index)
        old = (face.landmarks[point].copy(), bool(face.visible[point]), bool(face.edited[point]))

        def apply() -> None:
            face.landmarks[point] = face.predicted_landmarks[point]
            face.visible[point] = face.predicted_visible[point]
            face.edited[point] = False

        def revert() -> None:
            face.landmarks[point], face.visible[point], face.edited[point] = old

        self.execute(
            Command(
                f"reset point {point + 1}",
                apply,
                revert,
                event=SessionEvent("points", index, (point,)),
            )
        )

    def reset_face(self, face_index: int | None = None, model_face: Face | None = None) -> None:
        """Shift+R: every point of a face back to the model's, in the definition of
        ``model_face`` (the studio's current one) when given, else to the face's own
        prediction; no point stays marked as edited."""
        index, ann = self._face(face_index)
        old = FaceState.of(ann)

        def apply() -> None:
            if model_face is not None:
                ann.predicted_landmarks[:] = model_face.landmarks[:, :2]
                ann.predicted_visible[:] = model_face.visible
                ann.predicted_definition = model_face.convention
                ann.face, ann.pose = model_face, model_face.pose
            ann.landmarks[:] = ann.predicted_landmarks
            ann.visible[:] = ann.predicted_visible
            ann.edited[:] = False
            ann.definition = ann.predicted_definition

        self.execute(
            Command(
                f"reset face {index + 1}",
                apply,
                lambda: old.restore(ann),
                event=SessionEvent("face", index),
            )
        )

    def replace_prediction(self, face_index: int, face: Face) -> None:
        """Take a re-run model result (e.g. stage 2 from corrected points) as the new
        prediction of a face, keeping the human's edited points."""
        index, ann = self._face(face_index)
        old = FaceState.of(ann)
        new_lm = face.landmarks[:, :2].astype(np.float64)

        def apply() -> None:
            ann.predicted_landmarks[:] = new_lm
            ann.predicted_visible[:] = face.visible
            keep = ann.edited
            ann.landmarks[~keep] = new_lm[~keep]
            ann.visible[~keep] = face.visible[~keep]
            ann.face, ann.pose = face, face.pose

        self.execute(
            Command(
                f"re-run stage 2 on face {index + 1}",
                apply,
                lambda: old.restore(ann),
                event=SessionEvent("face", index),
            )
        )

    def add_face(self, face: FaceAnnotation) -> None:
        """Add a face (one the detector missed, predicted from a box the person drew)."""
        faces, old_selected = self.faces, self.selected

        def apply() -> None:
            faces.append(face)
            self.selected = len(faces) - 1

        def revert() -> None:
            del faces[next(i for i, f in enumerate(faces) if f is face)]
            self.selected = min(old_selected, len(faces) - 1) if faces else 0

        self.execute(Command(f"add face {len(faces) + 1}", apply, revert))

    def set_points(
        self,
        points: tuple[int, ...],
        xy: np.ndarray,
        text: str,
        face_index: int | None = None,
        merge: str | None = None,
    ) -> None:
        """Move the landmarks ``points`` of a face to ``xy`` (K, 2) image pixels at once (a
        group move, nudge, scale or rotation; core/annotation/group_edit.py): one undo step,
        every point clamped into the image and marked edited. Successive calls with the same
        ``merge`` name on the same points merge into one step until :meth:`end_merge` (one
        drag, one held key)."""
        index, face = self._face(face_index)
        idx = np.asarray(points, dtype=np.intp)
        new_xy = self.clamp(np.asarray(xy, dtype=np.float64).reshape(len(idx), 2))
        old_xy, old_edited = face.landmarks[idx].copy(), face.edited[idx].copy()

        def apply() -> None:
            face.landmarks[idx] = new_xy
            face.edited[idx] = True

        def revert() -> None:
            face.landmarks[idx] = old_xy
            face.edited[idx] = old_edited

        self.execute(
            Command(
                text,
                apply,
                revert,
                (merge, index, tuple(points)) if merge is not None else None,
                event=SessionEvent("points", index, tuple(int(i) for i in points)),
            )
        )

    def delete_face(self, face_index: int | None = None) -> None:
        """Remove a face (a false detection); undo puts it back at its place."""
        index, face = self._face(face_index)
        faces, old_selected = self.faces, self.selected

        def apply() -> None:
            del faces[next(i for i, f in enumerate(faces) if f is face)]
            self.selected = min(index, len(faces) - 1) if faces else 0

        def revert() -> None:
            faces.insert(index, face)
            self.selected = old_selected

        self.execute(Command(f"delete face {index + 1}", apply, revert))
