"""``mtface data import-annotations``: folders of human 68-point annotations -> training labels.

For every image with an annotation beside it (iBUG ``.pts``, labelme ``.json``, COCO
``.coco.json`` or mtface ``.csv``: the formats the studio saves and reads), every annotated face
becomes one face of a label folder (``core/data/labels.py``), which ``mtface data synthesize``
then turns into training samples with large-pose views, like teacher labels:

1. Depth and the dense shape come from the teacher (MediaPipe FaceMesh on a crop around the
   annotated points) or, where the teacher is not installed or gives no face, from the current
   model (``--mesh-from model``).
2. The mesh is then fitted to the human points: a 2D thin-plate-spline field moves every vertex
   in x and y so that the mesh's 2D-convention landmarks (``core/landmarks2d.py``; the jaw
   marches to the silhouette, as people annotate it) land on the annotated points. Depth is kept.
   The human points thereby supervise the projected landmarks; the 3D landmarks of the fitted
   mesh keep their own (surface) definition.

The split into training and validation photos is by photo (a photo's several faces stay
together; ``labels.is_validation_identity``); ``train.txt`` and ``val.txt`` list the annotation
files of each part so that ``mtface evaluate --pts DIR --subset val.txt`` scores exactly the
held-out part.
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
    image: Path
    annotation: Path


@dataclass(frozen=True)
class ImportReport:
    faces: int
    images: int
    skipped: int
    from_model: int
    train_files: int
    val_files: int


def find_annotated_images(folders: list[Path]) -> list[AnnotatedImage]:
    """Every image under ``folders`` that has an annotation file beside it."""
    found = []
    for image in list_images(folders):
        for suffix in ANNOTATION_SUFFIXES:
            candidate = image.with_name(image.stem + suffix)
            if candidate.is_file():
                found.append(AnnotatedImage(image, candidate))
                break
    return found


def in_subset(path: Path, subset: set[str] | None) -> bool:
    """True when ``subset`` is None or one of its relative paths ends ``path``."""
    if subset is None:
        return True
    parts = Path(path).resolve().parts
    return any(tuple(Path(entry).parts) == parts[-len(Path(entry).parts) :] for entry in subset)


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
    """(image, points (68, 2)) -> (vertices (V, 3), flip disagreement) from the teacher."""
    from mtface.core.data.teacher import FaceMeshTeacher

    teacher = FaceMeshTeacher(topology, max_disagreement=0.1)

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


def _faces_of(item: AnnotatedImage) -> list[FaceAnnotation]:
    faces = read_annotation(item.annotation, image_name=item.image.name)
    return [f for f in faces if len(f.landmarks) == 68 and np.isfinite(f.landmarks).all()]


def import_annotations(
    folders: list[Path],
    out_dir: Path,
    licence: str,
    mesh_from: str = "teacher",
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
            annotated = _faces_of(item)
        except (ImageLoadError, AnnotationFormatError) as exc:
            tqdm.write(f"skipped: {exc}", file=sys.stderr)
            skipped += 1
            continue
        identity = photo_identity(item.image, root)
        part = "val" if is_validation_identity(identity, val_fraction) else "train"
        split[part].append(str(item.annotation.resolve().relative_to(root)))
        for face in annotated:
            points = face.landmarks.astype(np.float64)
            for k, source in enumerate(sources):
                found = source(image, points)
                if found is not None:
                    from_model += int(k == len(sources) - 1 and mesh_from == "teacher")
                    break
            if found is None:
                skipped += 1
                continue
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
