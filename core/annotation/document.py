"""One image open in the studio: the picture, its annotation session, the model's prediction
and where its annotation lives on disk. Pure Python; the GUI drives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtface.core.annotation.session import AnnotationSession, FaceAnnotation
from mtface.core.formats.annotations import annotation_path, read_annotation, write_annotation
from mtface.core.formats.pts import AnnotationFormatError
from mtface.core.imageio import load_image
from mtface.core.types import Prediction


@dataclass
class ImageDocument:
    """``annotation_error`` holds the message when the existing annotation file could not be
    read: that file is then never overwritten (saving picks a new name)."""

    path: Path
    image: np.ndarray
    session: AnnotationSession = field(default_factory=AnnotationSession)
    prediction: Prediction | None = None
    loaded_from: Path | None = None
    annotation_error: str | None = None

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def has_saved_annotation(self) -> bool:
        return annotation_path(self.path).exists()

    @staticmethod
    def open(path: Path) -> "ImageDocument":
        """Read the image (ImageLoadError when unusable) and its labelme annotation if any."""
        doc = ImageDocument(Path(path), load_image(path))
        saved = annotation_path(doc.path)
        if saved.exists():
            doc.load_annotation(saved)
        return doc

    def load_annotation(self, path: Path) -> None:
        """Replace the faces by an annotation file's; on failure record the error (and keep
        the faces)."""
        try:
            faces = read_annotation(path, self.path.name)
        except AnnotationFormatError as exc:
            self.annotation_error = str(exc)
            return
        self.session.set_faces(faces)
        self.loaded_from = Path(path)
        self.annotation_error = None

    def apply_prediction(self, prediction: Prediction) -> None:
        """Take the model's result: as the faces when nothing was loaded from a file,
        otherwise only as the reference shown beside the loaded annotation."""
        self.prediction = prediction
        if self.loaded_from is None and not self.session.dirty:
            self.session.set_faces([FaceAnnotation.from_face(f) for f in prediction.faces])
        elif self.loaded_from is not None:
            # attach the model's mesh and pose to the loaded faces they match
            for ann in self.session.faces:
                centre = ann.landmarks.mean(0)
                best = min(prediction.faces, default=None,
                           key=lambda f: np.linalg.norm(f.landmarks_2d.mean(0) - centre))
                if best is not None and ann.face is None:
                    ann.face = best
                    if ann.pose is None:
                        ann.pose = best.pose

    def reference_landmarks(self) -> np.ndarray | None:
        """The model's landmarks of the selected face when a file annotation is shown."""
        if self.loaded_from is None:
            return None
        face = self.session.current()
        return None if face is None or face.face is None else face.face.landmarks[:, :2]

    def save(self, fmt: str = "labelme", target: Path | None = None) -> list[Path]:
        """Write the faces (atomically). Never overwrites an annotation file that could not be
        read: then the next free ``<stem>.N<suffix>`` is used."""
        path = Path(target) if target is not None else annotation_path(self.path, fmt)
        if self.annotation_error is not None and path.exists():
            k = 1
            while (candidate := path.with_name(f"{path.stem}.{k}{path.suffix}")).exists():
                k += 1
            path = candidate
        written = write_annotation(path, fmt, self.session.faces, self.path.name,
                                   self.image_size)
        self.session.mark_saved()
        return written
