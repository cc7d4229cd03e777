"""``mtface predict IMAGE_OR_FOLDER... --out DIR``."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from tqdm import tqdm

from mtface.core.formats.atomic import SaveError
from mtface.core.formats.mesh import write_mesh
from mtface.core.formats.overlay import write_overlay
from mtface.core.formats.prediction_json import prediction_to_dict, write_prediction_json
from mtface.core.formats.pts import write_pts
from mtface.core.imageio import ImageLoadError, list_images, load_image
from mtface.core.predictor import Predictor
from mtface.core.types import FaceBox


class BoxesFileError(ValueError):
    """A malformed --boxes file."""


def read_boxes(path: Path) -> dict[str, list[FaceBox]]:
    """Read caller boxes: JSON ``{"name.jpg": [[x0, y0, x1, y1], ...]}`` or CSV rows
    ``name,x0,y0,x1,y1`` (a header row is allowed). Keys are image file names."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoxesFileError(f"{path}: cannot read ({exc})") from exc
    table: dict[str, list[FaceBox]] = {}
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("expected an object of image name -> list of boxes")
            for name, boxes in data.items():
                if boxes and not isinstance(boxes[0], (list, tuple)):
                    boxes = [boxes]
                table[name] = [_box(b) for b in boxes]
        else:
            for row in csv.reader(text.splitlines()):
                if not row or row[0].strip().lower() in ("image", "name", "file"):
                    continue
                table.setdefault(row[0].strip(), []).append(_box(row[1:5]))
    except (ValueError, TypeError, IndexError) as exc:
        raise BoxesFileError(f"{path}: malformed boxes file ({exc})") from exc
    return table


def _box(values: list) -> FaceBox:
    x0, y0, x1, y1 = (float(v) for v in values[:4])
    if len(values) < 4 or not (x1 > x0 and y1 > y0):
        raise ValueError(f"box {values} is not x0, y0, x1, y1 with x1 > x0 and y1 > y0")
    return FaceBox(x0, y0, x1, y1, 1.0)


def run_predict(inputs: list[Path], out_dir: Path, predictor: Predictor,
                boxes: dict[str, list[FaceBox]] | None = None, overlay: bool = False,
                mesh_format: str = "obj", model_info: dict | None = None) -> int:
    """Process every image; returns the number of images processed (faces found or not)."""
    images = list_images(inputs)
    if not images:
        print("no images found in " + ", ".join(map(str, inputs)), file=sys.stderr)
        return 0
    done = 0
    for path in tqdm(images, desc="predict", unit="img", file=sys.stderr,
                     disable=len(images) < 2):
        try:
            image = load_image(path)
        except ImageLoadError as exc:
            tqdm.write(f"skipped: {exc}", file=sys.stderr)
            continue
        caller_boxes = None
        if boxes is not None:
            caller_boxes = boxes.get(path.name, boxes.get(str(path)))
            if caller_boxes is None:
                tqdm.write(f"skipped: {path}: no box for it in the boxes file", file=sys.stderr)
                continue
        prediction = predictor.predict(image, caller_boxes)
        stem = path.stem
        try:
            mesh_files = []
            for i, face in enumerate(prediction.faces):
                mesh_name = f"{stem}_face{i}.{mesh_format}"
                write_mesh(out_dir / mesh_name, face.vertices, predictor.topology.triangles,
                           predictor.topology.uv if mesh_format == "obj" else None)
                write_pts(out_dir / f"{stem}_face{i}.pts", face.landmarks_2d)
                mesh_files.append(mesh_name)
            payload = prediction_to_dict(prediction, path.name, mesh_files, model_info)
            write_prediction_json(out_dir / f"{stem}.json", payload)
            if overlay:
                write_overlay(out_dir / f"{stem}_overlay.png", image, prediction.faces)
        except SaveError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return done
        if not prediction.faces:
            tqdm.write(f"no face found: {path}", file=sys.stderr)
        done += 1
    return done
