"""Overlay picture of a prediction: landmarks (visible blue, invisible red, as in the method's
figures), iBUG-68 lines, the face box and the head-pose axes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from mtface.core.formats.atomic import atomic_write_bytes
from mtface.core.geometry import rotation_from_angles
from mtface.core.topology import ibug68_edges
from mtface.core.types import Face

#: A PNG text chunk in every overlay mtface writes: folder scans skip those files (an overlay
#: written into an input folder is never read back as a photo; core/commands/outputs.py).
OVERLAY_TAG = b"Software\x00mtface overlay"
VISIBLE_RGB = (40, 90, 255)
INVISIBLE_RGB = (235, 40, 40)


def draw_faces(image: np.ndarray, faces: list[Face], in_place: bool = False) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> a copy with every face drawn (``in_place``: ``image`` itself
    when it is writeable, which saves a copy of a large photo)."""
    out = image if in_place and image.flags.writeable else image.copy()
    scale = max(1, round(max(image.shape[:2]) / 500))
    for face in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in face.box.as_tuple())
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), scale, cv2.LINE_AA)
        pts = face.landmarks[:, :2]
        for a, b in ibug68_edges():
            colour = VISIBLE_RGB if face.visible[a] and face.visible[b] else INVISIBLE_RGB
            cv2.line(out, _pt(pts[a]), _pt(pts[b]), colour, 1, cv2.LINE_AA)
        for p, vis in zip(pts, face.visible):
            cv2.circle(
                out, _pt(p), 2 * scale, VISIBLE_RGB if vis else INVISIBLE_RGB, -1, cv2.LINE_AA
            )
        _draw_axes(out, face, scale)
    return out


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _draw_axes(out: np.ndarray, face: Face, scale: int) -> None:
    rot = rotation_from_angles(face.pose.pitch, face.pose.yaw, face.pose.roll)
    origin = face.landmarks[30, :2]  # nose tip
    length = 0.5 * max(face.box.width, face.box.height)
    for axis, colour in zip(np.eye(3), ((255, 60, 60), (60, 200, 60), (60, 60, 255))):
        d = rot @ axis  # model axes (y up) -> image: negate y
        end = origin + length * np.array([d[0], -d[1]])
        cv2.arrowedLine(out, _pt(origin), _pt(end), colour, scale + 1, cv2.LINE_AA, tipLength=0.15)


def overlay_png_bytes(
    image: np.ndarray, faces: list[Face], suffix: str = ".png", in_place: bool = False
) -> bytes:
    """The overlay encoded (PNG by default); ``in_place`` draws on (and reorders the channels
    of) ``image``. Raises ValueError when it cannot be encoded."""
    drawn = draw_faces(image, faces, in_place)
    cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR, dst=drawn)
    ok, data = cv2.imencode(suffix, drawn)
    if not ok:
        raise ValueError(f"cannot encode the overlay as {suffix}")
    return tag_png(data.tobytes()) if suffix.lower() == ".png" else data.tobytes()


def tag_png(data: bytes) -> bytes:
    """PNG bytes with the :data:`OVERLAY_TAG` text chunk inserted before the IEND chunk."""
    end = data.rfind(b"IEND") - 4
    if end < 8:
        return data
    chunk = struct.pack(">I", len(OVERLAY_TAG)) + b"tEXt" + OVERLAY_TAG
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + OVERLAY_TAG) & 0xFFFFFFFF)
    return data[:end] + chunk + data[end:]


def is_mtface_overlay(path: Path) -> bool:
    """True for a PNG that carries :data:`OVERLAY_TAG` (an overlay mtface wrote)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(size - 96, 0))
            return OVERLAY_TAG in handle.read()
    except OSError:
        return False


def write_overlay(path: Path, image: np.ndarray, faces: list[Face]) -> Path:
    return atomic_write_bytes(path, overlay_png_bytes(image, faces, Path(path).suffix or ".png"))
