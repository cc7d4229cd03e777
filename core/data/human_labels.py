"""``mtface data import-annotations``: folders of human 68-point annotations -> training labels.

For every image with an annotation beside it (iBUG ``.pts``, labelme ``.json``, COCO
``.coco.json`` or mtface ``.csv``: the formats the studio saves and reads), every annotated face
becomes one face of a label folder (``core/data/labels.py``), which ``mtface data synthesize``
then turns into training samples with large-pose views, like teacher labels:

1. Depth and the dense shape come from the current model (``--mesh-from model``, the default:
   nothing beyond mtface to install) or from the teacher (``--mesh-from teacher``: MediaPipe
   FaceMesh on a crop around the annotated points, the model where it gives no face; needs
   mediapipe, which the install does not bring).
2. The mesh is then fitted to the human points: a 2D thin-plate-spline field moves every vertex
   in x and y so that the mesh's 2D-convention landmarks (``core/landmarks2d.py``; the jaw
   marches to the silhouette, as people annotate it) land on the annotated points. Depth is kept.
   The human points thereby supervise the projected landmarks; the 3D landmarks of the fitted
   mesh keep their own (surface) definition.

The split into training and validation photos is by photo (a photo's several faces stay
together; ``labels.is_validation_identity``); ``train.txt`` and ``val.txt`` list the annotation
files of each part so that ``mtface evaluate --pts DIR --subset val.txt`` scores exactly the
held-out part.

An image's annotation is, in this order: the ``.pts`` set (``photo.pts``, or the faces'
``photo_face0.pts``, ``photo_face1.pts``, ... that ``mtface annotate --format pts`` writes for
several faces, with its sidecar ``photo.pts.json`` when there is one), labelme ``.json``, COCO
``.coco.json`` or ``.csv``. A face without 68 finite points is reported and left out; an image
with no usable face is not listed in ``train.txt`` / ``val.txt``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.data.labels import LabelWriter, is_validation_identity
from mtface.core.formats.annotations import read_annotation
from mtface.core.formats.atomic import atomic_write_text
from mtface.core.formats.pts import AnnotationFormatError
from mtface.core.geometry import box_of_points, pose_from_vertices
from mtface.core.imageio import ImageLoadError, list_images, load_image
from mtface.core.landmarks2d import Landmarks2D
from mtface.core.topology import Topology

#: Annotation files looked for beside an image ``NAME.ext``, in this order.
ANNOTATION_SUFFIXES = (".pts", ".json", ".coco.json", ".csv")
#: Landmark box -> a detector-like box for the teacher's crop (the inverse of the predictor's
#: detector-box rule: landmark side = 0.881 x detector side).
_TEACHER_BOX_SCALE = 1.0 / 0.881


@dataclass(frozen=True)
class AnnotatedImage:
    """An image and its annotation file; ``parts`` the further ``.pts`` files of its faces
    (``photo_face1.pts``, ...) when ``annotation`` is ``photo_face0.pts`` and no sidecar lists
    them."""

    image: Path
    annotation: Path
    parts: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        """Every annotation file of the image, ``annotation`` first."""
        return (self.annotation, *self.parts)


@dataclass(frozen=True)
class ImportReport:
    faces: int
    images: int
    skipped: int
    from_model: int
    train_files: int
    val_files: int


def find_annotated_images(folders: list[Path]) -> list[AnnotatedImage]:
    """Every image under ``folders`` that has an annotation file beside it (see the module
    docstring for the order)."""
    found = []
    for image in list_images(folders):
        item = _pts_set(image)
        for suffix in ANNOTATION_SUFFIXES[1:] if item is None else ():
            candidate = image.with_name(image.stem + suffix)
            if candidate.is_file():
                item = AnnotatedImage(image, candidate)
                break
        if item is not None:
            found.append(item)
    return found


def _pts_set(image: Path) -> AnnotatedImage | None:
    """The .pts annotation of ``image``: its sidecar (which lists every face's file), else
    ``photo.pts``, else every ``photo_faceK.pts`` in face order; None when there is none."""
    from mtface.core.formats.pts_set import pts_files, sidecar_path

    files = pts_files(image.with_name(image.stem + ".pts"))
    if not files:
        return None
    sidecar = sidecar_path(image.with_name(image.stem + ".pts"))
    if sidecar.is_file():
        return AnnotatedImage(image, sidecar, tuple(files))
    if files[0].name == image.stem + ".pts":
        return AnnotatedImage(image, files[0])
    files.sort(key=lambda p: int(p.stem.rsplit("_face", 1)[1]))
    return AnnotatedImage(image, files[0], tuple(files[1:]))


def read_annotated_faces(item: AnnotatedImage) -> list[FaceAnnotation]:
    """Every face of an annotated image, from all of its files (raises
    AnnotationFormatError for a malformed file)."""
    if item.annotation.name.endswith(".pts.json"):
        return read_annotation(item.annotation, image_name=item.image.name)
    faces: list[FaceAnnotation] = []
    for path in item.files:
        faces += read_annotation(path, image_name=item.image.name)
    return faces


def usable_faces(item: AnnotatedImage, warn: Callable[[str], None]) -> list[FaceAnnotation]:
    """The faces of ``item`` with 68 finite points; each other face is reported to ``warn``
    (raises AnnotationFormatError for a malformed file)."""
    faces = read_annotated_faces(item)
    usable = []
    for k, face in enumerate(faces):
        count = len(face.landmarks)
        if count == 68 and np.isfinite(face.landmarks).all():
            usable.append(face)
        else:
            which = f" face {k}" if len(faces) > 1 else ""
            warn(
                f"skipped: {item.annotation}{which}: {count} points, not 68"
                if count != 68
                else f"skipped: {item.annotation}{which}: NaN or infinite points"
            )
    return usable


def in_subset(path: Path | AnnotatedImage, subset: set[str] | None) -> bool:
    """True when ``subset`` is None or one of its relative paths ends ``path`` (for an
    annotated image: one of its files)."""
    if subset is None:
        return True
    paths = path.files if isinstance(path, AnnotatedImage) else (path,)
    return any(subset_entry_of(p, subset) is not None for p in paths)


def subset_entry_of(path: Path, subset: set[str]) -> str | None:
    """The entry of ``subset`` whose relative path ends ``path``; None when none does."""
    parts = Path(path).resolve().parts
    for entry in subset:
        entry_parts = tuple(Path(entry).parts)
        if entry_parts == parts[-len(entry_parts) :]:
            return entry
    return None


def read_subset(path: Path | None) -> set[str] | None:
    """The annotation files a ``--subset`` list names (one relative path per line)."""
    if path is None:
        return None
    try:
        entries = {line.strip() for line in Path(path).read_text().splitlines() if line.strip()}
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the subset list {path}: {exc}") from exc
    if not entries:
        raise ValueError(f"the subset list {path} is empty")
    return entries


def photo_identity(image: Path, root: Path) -> str:
    """The photo a face comes from: its path under ``root`` without the 300-W face suffix
    (``photo_1.jpg`` and ``photo_2.jpg`` are two faces of one photo)."""
    rel = Path(image).resolve().relative_to(root)
    return str(rel.parent / re.sub(r"_\d+$", "", rel.stem))


def pin_to_points(
    vertices: np.ndarray, current: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Move a mesh (V, 3) in x, y by the thin-plate-spline field that takes ``current`` (L, 2)
    onto ``target`` (L, 2) (only the points where ``mask``); z is kept."""
    from scipy.interpolate import RBFInterpolator

    mask = np.ones(len(current), bool) if mask is None else np.asarray(mask, bool)
    x0, y0, x1, y1 = box_of_points(current)
    scale = max(x1 - x0, y1 - y0, 1e-6)
    field = RBFInterpolator(
        current[mask] / scale,
        (target[mask] - current[mask]) / scale,
        kernel="thin_plate_spline",
        degree=1,
        smoothing=1e-4,
    )
    out = np.array(vertices, dtype=np.float64, copy=True)
    out[:, :2] += field(out[:, :2] / scale) * scale
    return out


def fit_mesh_to_annotation(
    vertices: np.ndarray, definition: Landmarks2D, points: np.ndarray, iterations: int = 3
) -> np.ndarray:
    """Fit a mesh (V, 3) so that its 2D-convention landmarks match ``points`` (68, 2).
    Iterated because marching picks its silhouette vertices on the moved mesh."""
    fitted = np.asarray(vertices, dtype=np.float64)
    for _ in range(iterations):
        fitted = pin_to_points(fitted, definition.points(fitted), points)
    return fitted


MeshSource = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, float] | None"]


def teacher_mesh_source(topology: Topology) -> MeshSource:
    """(image, points (68, 2)) -> (vertices (V, 3), flip disagreement) from the teacher.
    Raises RuntimeError, naming ``--mesh-from model``, when mediapipe is not installed."""
    from mtface.core.data.teacher import FaceMeshTeacher

    try:
        teacher = FaceMeshTeacher(topology, max_disagreement=0.1)
    except RuntimeError as exc:
        raise RuntimeError(
            f"{exc}; or use --mesh-from model (the default: meshes from mtface's own model, "
            "nothing to install)"
        ) from exc

    def run(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, float] | None:
        x0, y0, x1, y1 = box_of_points(points)
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * _TEACHER_BOX_SCALE / 2
        label = teacher.label(image, (cx - half, cy - half, cx + half, cy + half))
        return None if label is None else (label.vertices.astype(np.float64), label.disagreement)

    return run


def model_mesh_source(weights: Path | None = None) -> MeshSource:
    """(image, points (68, 2)) -> (vertices (V, 3), 0.0) from mtface's own cascade, run on the
    protocol crop of the annotated points."""
    from mtface.core.predictor import Predictor
    from mtface.core.types import FaceBox

    predictor = Predictor.from_weights(weights)

    def run(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, float] | None:
        box = FaceBox(*box_of_points(points))
        prediction = predictor.predict(image, [box], box_kind="landmarks")
        return prediction.faces[0].vertices.astype(np.float64), 0.0

    return run


def import_annotations(
    folders: list[Path],
    out_dir: Path,
    licence: str,
    mesh_from: str = "model",
    val_fraction: float = 0.2,
    weights: Path | None = None,
    limit: int | None = None,
) -> ImportReport:
    """Write the label folder ``out_dir`` (with ``train.txt`` / ``val.txt``) from annotated
    images under ``folders``. ``mesh_from``: 'teacher' (the model where the teacher finds no
    face) or 'model'. Unreadable images and malformed annotations are reported and skipped."""
    folders = [Path(f).resolve() for f in folders]
    root = Path(os.path.commonpath([str(f) for f in folders]))
    if root in folders and len(folders) == 1 and root.is_file():
        root = root.parent
    topology = Topology.load()
    definition = Landmarks2D.load()
    items = find_annotated_images(folders)[:limit]
    if not items:
        raise ValueError(
            f"no annotated images under {', '.join(map(str, folders))} (looked for "
            f"{', '.join(ANNOTATION_SUFFIXES)} beside each image)"
        )
    sources: list[MeshSource] = []
    if mesh_from == "teacher":
        sources.append(teacher_mesh_source(topology))
    sources.append(model_mesh_source(weights))
    writer = LabelWriter(
        out_dir,
        root,
        {
            "teacher": "human 68-point annotations; mesh from " + mesh_from,
            "topology": topology.source,
            "landmarks_2d": definition.source,
            "source": ", ".join(map(str, folders)),
            "licence": licence,
            "preprocess": "none",
            "val_fraction": val_fraction,
        },
    )
    split: dict[str, list[str]] = {"train": [], "val": []}
    faces = skipped = from_model = 0
    for item in tqdm(items, desc="import", unit="img", file=sys.stderr):
        try:
            image = load_image(item.image)
            annotated = usable_faces(item, lambda text: tqdm.write(text, file=sys.stderr))
        except (ImageLoadError, AnnotationFormatError) as exc:
            tqdm.write(f"skipped: {exc}", file=sys.stderr)
            skipped += 1
            continue
        if not annotated:
            skipped += 1
            continue
        identity = photo_identity(item.image, root)
        part = "val" if is_validation_identity(identity, val_fraction) else "train"
        listed = False
        for face in annotated:
            points = face.landmarks.astype(np.float64)
            for k, source in enumerate(sources):
                found = source(image, points)
                if found is not None:
                    from_model += int(k == len(sources) - 1)  # the model is always the last
                    break
            if found is None:
                skipped += 1
                continue
            if not listed:
                split[part] += [str(p.resolve().relative_to(root)) for p in item.files]
                listed = True
            raw, disagreement = found
            fitted = fit_mesh_to_annotation(raw, definition, points)
            fitted[:, 2] -= fitted[:, 2].mean()
            pose = pose_from_vertices(fitted, topology.vertices, topology.pose_weights)
            writer.add(
                item.image,
                identity,
                fitted.astype(np.float32),
                pose,
                disagreement,
                box_of_points(fitted),
                extra={
                    "human_landmarks": points.astype(np.float32),
                    "human_visible": face.visible.astype(bool),
                    "teacher_vertices": raw.astype(np.float32),
                },
            )
            faces += 1
    if faces == 0:  # nothing usable: leave whatever the folder held before as it was
        raise ValueError(
            f"none of the {len(items)} annotated images gave a usable face "
            f"({skipped} skipped); nothing written to {out_dir}"
        )
    writer.close()
    for part, names in split.items():
        atomic_write_text(Path(out_dir) / f"{part}.txt", "".join(n + "\n" for n in names))
    return ImportReport(
        faces, len(items), skipped, from_model, len(split["train"]), len(split["val"])
    )
