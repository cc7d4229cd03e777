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

from mtface.core.types import Face, FaceBox, Pose


@dataclass
class FaceAnnotation:
    """One face being annotated. landmarks (68, 2) image pixels; visible (68,) bool; edited
    (68,) bool. ``face`` is the model's full result (mesh, pose) when there is one."""

    landmarks: np.ndarray
    visible: np.ndarray
    predicted_landmarks: np.ndarray
    predicted_visible: np.ndarray
    edited: np.ndarray
    box: FaceBox
    face: Face | None = None
    pose: Pose | None = None
    source: str = "prediction"

    @staticmethod
    def from_face(face: Face) -> "FaceAnnotation":
        lm = face.landmarks[:, :2].astype(np.float64)
        return FaceAnnotation(lm.copy(), face.visible.copy(), lm.copy(), face.visible.copy(),
                              np.zeros(len(lm), bool), face.box, face, face.pose)

    @staticmethod
    def from_points(points: np.ndarray, visible: np.ndarray | None = None,
                    source: str = "file", pose: Pose | None = None) -> "FaceAnnotation":
        pts = np.asarray(points, dtype=np.float64)[:, :2]
        vis = np.ones(len(pts), bool) if visible is None else np.asarray(visible, bool)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        return FaceAnnotation(pts.copy(), vis.copy(), pts.copy(), vis.copy(),
                              np.zeros(len(pts), bool), FaceBox(x0, y0, x1, y1, 1.0), None,
                              pose, source)


@dataclass
class Command:
    """An undoable edit: ``apply`` and ``revert`` change the session; ``text`` names it."""

    text: str
    apply: Callable[[], None]
    revert: Callable[[], None]
    merge_key: tuple | None = None


@dataclass
class AnnotationSession:
    """Faces of one image and the edit history."""

    faces: list[FaceAnnotation] = field(default_factory=list)
    selected: int = 0
    _undo: list[Command] = field(default_factory=list)
    _redo: list[Command] = field(default_factory=list)
    _clean_depth: int = 0
    listeners: list[Callable[[], None]] = field(default_factory=list)

    # --- state ------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """True when there are edits since the last save or load."""
        return len(self._undo) != self._clean_depth

    def mark_saved(self) -> None:
        self._clean_depth = len(self._undo)

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

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()

    def set_faces(self, faces: list[FaceAnnotation]) -> None:
        """Replace all faces (a new prediction or a loaded file): clears the history."""
        self.faces = faces
        self.selected = 0
        self._undo.clear()
        self._redo.clear()
        self._clean_depth = 0
        self._notify()

    def select(self, index: int) -> None:
        if not 0 <= index < len(self.faces):
            raise IndexError(f"no face {index}")
        self.selected = index
        self._notify()

    # --- commands ---------------------------------------------------------------------------

    def execute(self, command: Command) -> None:
        """Apply a command and push it; consecutive drags of one point merge into one step."""
        command.apply()
        top = self._undo[-1] if self._undo else None
        if (command.merge_key is not None and top is not None
                and top.merge_key == command.merge_key and len(self._undo) > self._clean_depth):
            merged = Command(command.text, command.apply, top.revert, command.merge_key)
            self._undo[-1] = merged
        else:
            self._undo.append(command)
        self._redo.clear()
        self._notify()

    def end_merge(self) -> None:
        """Close the current drag: the next move of the same point is a new undo step."""
        if self._undo and self._undo[-1].merge_key is not None:
            top = self._undo[-1]
            self._undo[-1] = Command(top.text, top.apply, top.revert, None)

    def undo(self) -> None:
        if not self._undo:
            return
        command = self._undo.pop()
        command.revert()
        self._redo.append(command)
        self._notify()

    def redo(self) -> None:
        if not self._redo:
            return
        command = self._redo.pop()
        command.apply()
        self._undo.append(command)
        self._notify()

    # --- the edits --------------------------------------------------------------------------

    def _face(self, face_index: int | None) -> tuple[int, FaceAnnotation]:
        index = self.selected if face_index is None else face_index
        if not 0 <= index < len(self.faces):
            raise IndexError(f"no face {index}")
        return index, self.faces[index]

    def move_point(self, point: int, xy: tuple[float, float], face_index: int | None = None,
                   merge: bool = True) -> None:
        """Move landmark ``point`` to ``xy`` (image pixels)."""
        index, face = self._face(face_index)
        old_xy, old_edited = face.landmarks[point].copy(), bool(face.edited[point])
        new_xy = np.asarray(xy, dtype=np.float64)

        def apply() -> None:
            face.landmarks[point] = new_xy
            face.edited[point] = True

        def revert() -> None:
            face.landmarks[point] = old_xy
            face.edited[point] = old_edited

        self.execute(Command(f"move point {point + 1}", apply, revert,
                             ("move", index, point) if merge else None))

    def toggle_visibility(self, point: int, face_index: int | None = None) -> None:
        index, face = self._face(face_index)
        old_vis, old_edited = bool(face.visible[point]), bool(face.edited[point])

        def apply() -> None:
            face.visible[point] = not old_vis
            face.edited[point] = True

        def revert() -> None:
            face.visible[point] = old_vis
            face.edited[point] = old_edited

        self.execute(Command(f"toggle visibility of point {point + 1}", apply, revert))

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

        self.execute(Command(f"reset point {point + 1}", apply, revert))

    def reset_face(self, face_index: int | None = None) -> None:
        index, face = self._face(face_index)
        old = (face.landmarks.copy(), face.visible.copy(), face.edited.copy())

        def apply() -> None:
            face.landmarks[:] = face.predicted_landmarks
            face.visible[:] = face.predicted_visible
            face.edited[:] = False

        def revert() -> None:
            face.landmarks[:], face.visible[:], face.edited[:] = (a.copy() for a in old)

        self.execute(Command(f"reset face {index + 1}", apply, revert))

    def replace_prediction(self, face_index: int, face: Face) -> None:
        """Take a re-run model result (e.g. stage 2 from corrected points) as the new
        prediction of a face, keeping the human's edited points."""
        index, ann = self._face(face_index)
        old = (ann.predicted_landmarks.copy(), ann.predicted_visible.copy(),
               ann.landmarks.copy(), ann.visible.copy(), ann.face, ann.pose)
        new_lm = face.landmarks[:, :2].astype(np.float64)

        def apply() -> None:
            ann.predicted_landmarks[:] = new_lm
            ann.predicted_visible[:] = face.visible
            keep = ann.edited
            ann.landmarks[~keep] = new_lm[~keep]
            ann.visible[~keep] = face.visible[~keep]
            ann.face, ann.pose = face, face.pose

        def revert() -> None:
            (ann.predicted_landmarks[:], ann.predicted_visible[:], ann.landmarks[:],
             ann.visible[:]) = (a.copy() for a in old[:4])
            ann.face, ann.pose = old[4], old[5]

        self.execute(Command(f"re-run stage 2 on face {index + 1}", apply, revert))
