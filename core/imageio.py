"""Reading images robustly into the core's format: RGB uint8 (H, W, 3).

Handles grayscale, RGBA/LA/P (composited on black), 16-bit and float images (scaled to 8 bit),
CMYK, EXIF orientation, and rejects empty, truncated, non-image, tiny and absurdly large files
with an ImageLoadError that says what is wrong.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Smallest side mtface accepts (a face needs some pixels).
MIN_SIDE = 32
#: Largest side kept as is; larger images are refused above MAX_PIXELS and otherwise read fine.
MAX_PIXELS = 20000 * 20000
#: Above this many pixels, 8-bit photos are decoded without intermediate copies.
LARGE_PIXELS = 40_000_000
#: What folder scans take as images (everywhere: predict, annotate, evaluate, the studio). A GIF
#: is read as its first frame; an animated one is a video to ``mtface live --source``.
IMAGE_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".gif",
)


class ImageLoadError(ValueError):
    """An image that cannot be used; the message names the file and the reason."""


def to_rgb_uint8(array: np.ndarray) -> np.ndarray:
    """Convert an image array of any common layout to RGB uint8 (H, W, 3).

    Accepts (H, W), (H, W, 1), (H, W, 3) RGB, (H, W, 4) RGBA (alpha composited on black), and
    uint8, uint16 (scaled by 1/257), other integer or float arrays (floats in [0, 1]).
    """
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ImageLoadError(f"unsupported image array shape {array.shape}")
    if a.dtype == np.uint16:
        a = (a.astype(np.float32) / 257.0).round()
    elif a.dtype.kind == "f":
        a = np.nan_to_num(a.astype(np.float32)) * 255.0
    elif a.dtype != np.uint8:
        a = a.astype(np.float32)
        top = float(a.max()) if a.size else 1.0
        a = a / max(top, 1.0) * 255.0 if top > 255 else a
    a = np.clip(a, 0, 255).astype(np.float32) if a.dtype != np.uint8 else a
    channels = a.shape[2]
    if channels in (2, 4):  # gray+alpha or RGBA: composite on black
        alpha = a[:, :, -1:].astype(np.float32) / 255.0
        a = a[:, :, :-1].astype(np.float32) * alpha
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(
        np.asarray(a).round().clip(0, 255).astype(np.uint8) if a.dtype != np.uint8 else a
    )


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3), applying its EXIF orientation.

    Raises ImageLoadError for a missing, empty, truncated, non-image, too small (< 32 px side)
    or too large (> 400 megapixels) file. Large 8-bit RGB / grey photos are decoded straight
    into the result (one copy of the pixels, no float copy). PIL's process-wide
    ``Image.MAX_IMAGE_PIXELS`` is left as the application set it.
    """
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageLoadError(f"{path}: is a folder, not an image")
    if not path.is_file():
        raise ImageLoadError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise ImageLoadError(f"{path}: the file is empty")
    try:
        with _open_image(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ImageLoadError(
                    f"{path}: {img.width}x{img.height} is too large "
                    f"(more than {MAX_PIXELS // 10**6} megapixels)"
                )
            array = _decode_large(path, img) if img.width * img.height > LARGE_PIXELS else None
            if array is None:
                img = ImageOps.exif_transpose(img)
                img.load()
                array = _pil_to_array(img)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(
            f"{path}: the image is too large (more than {MAX_PIXELS // 10**6} megapixels)"
        ) from None
    except UnidentifiedImageError:
        raise ImageLoadError(
            f"{path}: not an image file (or a format mtface cannot read)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{path}: cannot read the image ({exc})") from exc
    except MemoryError:
        raise ImageLoadError(f"{path}: not enough memory to read the image") from None
    if min(array.shape[:2]) < MIN_SIDE:
        raise ImageLoadError(
            f"{path}: {array.shape[1]}x{array.shape[0]} is too small "
            f"(a side under {MIN_SIDE} pixels)"
        )
    return array


_PIL_LIMIT_LOCK = threading.Lock()
#: EXIF orientation -> the transform that shows the image upright (as ImageOps.exif_transpose)
_ORIENT = {
    1: lambda a: a,
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose,
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.flip(cv2.transpose(a), -1),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


@contextmanager
def _open_image(path: Path) -> Iterator[Image.Image]:
    """``Image.open`` with mtface's own size limit: PIL's global limit is raised only around
    the header parse (under a lock) and restored at once; the bomb warning is silenced here
    only."""
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        if previous is not None and previous < MAX_PIXELS:
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        try:
            img = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = previous
    with img:
        yield img


def _decode_large(path: Path, img: Image.Image) -> np.ndarray | None:
    """A large, complete 8-bit RGB / grey JPEG decoded by OpenCV straight into one uint8 array
    (EXIF orientation applied). None when the image is of another kind, does not end with the
    JPEG end-of-image marker (OpenCV would grey-fill a truncated file silently), or OpenCV
    disagrees about its size: PIL then reads it (and reports a truncated file)."""
    if img.mode not in ("RGB", "L") or img.format != "JPEG" or not _ends_with_eoi(path):
        return None
    orientation = img.getexif().get(0x0112, 1)
    if orientation not in _ORIENT:
        return None
    array = _cv2_read_rgb(path, img.height, img.width)
    if array is None or array.shape[:2] != (img.height, img.width):
        return None
    if orientation != 1:
        array = np.ascontiguousarray(_ORIENT[orientation](array))
    return array


def _ends_with_eoi(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(max(path.stat().st_size - 2, 0))
        return handle.read(2) == b"\xff\xd9"


def _cv2_read_rgb(path: Path, height: int, width: int) -> np.ndarray | None:
    """OpenCV decodes into a preallocated RGB array where it can (OpenCV >= 4.10: peak memory
    one copy of the pixels instead of two); else into its own, turned to RGB in place."""
    rgb_flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
    if rgb_flag is not None:
        dst = np.empty((height, width, 3), np.uint8)
        try:
            return cv2.imread(str(path), dst, rgb_flag | cv2.IMREAD_IGNORE_ORIENTATION)
        except (cv2.error, TypeError):
            del dst
    array = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if array is not None:
        cv2.cvtColor(array, cv2.COLOR_BGR2RGB, dst=array)
    return array


def _pil_to_array(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return to_rgb_uint8(np.asarray(img, dtype=np.uint16))
    if img.mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        return to_rgb_uint8((arr.clip(0, 65535)).astype(np.uint16))
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        top = float(arr.max()) if arr.size else 1.0
        return to_rgb_uint8(arr / (top if top > 1.0 else 1.0))
    if img.mode in ("RGBA", "LA", "PA"):
        return to_rgb_uint8(np.asarray(img.convert("RGBA")))
    if img.mode == "P":
        return to_rgb_uint8(np.asarray(img.convert("RGBA")))
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def list_images(paths: list[Path]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into image files by suffix; folder
    scans leave out the overlays ``mtface predict --overlay`` wrote (they carry a PNG text
    chunk: core/formats/overlay.py)."""
    from mtface.core.formats.overlay import is_mtface_overlay

    out: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            out += sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES
                and not (p.name.lower().endswith("_overlay.png") and is_mtface_overlay(p))
            )
        else:
            out.append(path)
    return out


#: CLAHE of ``contrast_equalised``: OpenCV's usual clip limit and tile grid.
EQUALISE_CLIP_LIMIT = 2.0
EQUALISE_TILES = 8


def contrast_equalised(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> the same picture with its lightness equalised by tiles (CLAHE on
    L of CIE Lab, ``EQUALISE_CLIP_LIMIT``, ``EQUALISE_TILES`` x ``EQUALISE_TILES`` tiles),
    hue kept: a faint face in a grey, misty or dark photo stands out."""
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(EQUALISE_CLIP_LIMIT, (EQUALISE_TILES, EQUALISE_TILES))
    lab[:, :, 0] = clahe.apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
