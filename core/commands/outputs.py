"""Output names for batch commands (``predict``, ``annotate --out``) that cannot collide, and
the stale per-face files of an earlier run.

An image's outputs are named after its path relative to the folder it was found in (files given
one by one: their name), without the image suffix: ``a/face.png`` -> ``a/face``. When two images
of one run would get the same name (``face.jpg`` and ``face.png`` in one folder, or two files
called ``face.jpg`` from different folders), those keep their suffix (``face.jpg``) and, if that
is still not unique, a ``~K`` counter in the order the images were given.

Files mtface wrote are never read as inputs: folder scans skip the overlays ``predict
--overlay`` writes (they carry a PNG text chunk, core/formats/overlay.py) and, inside the run's
own output folder, every ``*_overlay.png``. A path that cannot be resolved (a symbolic link
that points to itself) is a clear error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mtface.core.formats.overlay import is_mtface_overlay
from mtface.core.imageio import IMAGE_SUFFIXES

FACE_FILE_SUFFIXES = ("pts", "obj", "ply")


@dataclass(frozen=True)
class ImageJob:
    """One image of a run and the base of its output names (``/``-separated, no suffix)."""

    path: Path
    base: str


class InputPathError(ValueError):
    """An input path that cannot be used at all (a symbolic link loop)."""


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:
        raise InputPathError(
            f"{path}: a symbolic link that points to itself (a loop); give the file it "
            "should point to"
        ) from exc


def written_by_mtface(path: Path, out_dir: Path | None = None) -> bool:
    """True for an overlay mtface wrote: a tagged PNG, or any ``*_overlay.png`` inside
    ``out_dir`` (overlays written before the tag existed)."""
    if not path.name.lower().endswith("_overlay.png"):
        return False
    if is_mtface_overlay(path):
        return True
    if out_dir is None:
        return False
    return _resolved(path).is_relative_to(_resolved(Path(out_dir)))


def expand_inputs(inputs: list[Path], out_dir: Path | None = None) -> list[tuple[Path, Path]]:
    """(image, path relative to its input) for every image of files and folders; a file given
    twice (or found through two inputs) is kept once; overlays mtface wrote are left out
    (:func:`written_by_mtface`). Raises InputPathError for a symbolic link loop."""
    seen: set[Path] = set()
    out: list[tuple[Path, Path]] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            found = sorted(
                p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            pairs = [(p, p.relative_to(item)) for p in found]
        else:
            pairs = [(item, Path(item.name))]
        for path, rel in pairs:
            key = _resolved(path)
            if key not in seen and not written_by_mtface(path, out_dir):
                seen.add(key)
                out.append((path, rel))
    return out


def plan_outputs(inputs: list[Path], out_dir: Path | None = None) -> list[ImageJob]:
    """Every image of ``inputs`` with a unique output base (see the module docstring); images
    mtface wrote (overlays; see :func:`expand_inputs`) are left out."""
    pairs = expand_inputs(inputs, out_dir)
    bases = [rel.with_suffix("").as_posix() for _, rel in pairs]
    bases = _disambiguate(bases, [rel.as_posix() for _, rel in pairs])
    return [ImageJob(path, base) for (path, _), base in zip(pairs, bases)]


def _disambiguate(bases: list[str], with_suffix: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    for base in bases:
        counts[base.lower()] = counts.get(base.lower(), 0) + 1
    names = [full if counts[base.lower()] > 1 else base for base, full in zip(bases, with_suffix)]
    used: dict[str, int] = {}
    unique = []
    for name in names:
        k = used.get(name.lower(), 0)
        used[name.lower()] = k + 1
        unique.append(name if k == 0 else f"{name}~{k}")
    return unique


_FACE_FILE = re.compile(r"^(.*)_face(\d+)\.(" + "|".join(FACE_FILE_SUFFIXES) + r")$")


class FaceFileIndex:
    """The per-face files (``<base>_face<K>.pts|obj|ply``) already in output folders, listed
    once per folder, to find the stale ones of an earlier run (it found more faces, or wrote
    another mesh format)."""

    def __init__(self) -> None:
        self._folders: dict[Path, dict[str, list[Path]]] = {}

    def _scan(self, folder: Path) -> dict[str, list[Path]]:
        if folder not in self._folders:
            table: dict[str, list[Path]] = {}
            if folder.is_dir():
                for p in folder.iterdir():
                    match = _FACE_FILE.match(p.name)
                    if match and p.is_file():
                        table.setdefault(match.group(1), []).append(p)
            self._folders[folder] = table
        return self._folders[folder]

    def existing(self, folder: Path, base_name: str) -> list[Path]:
        """Per-face files of ``base_name`` in ``folder`` when the run started."""
        return sorted(p for p in self._scan(Path(folder)).get(base_name, []) if p.exists())

    def stale(self, folder: Path, base_name: str, written: list[Path]) -> list[Path]:
        """Per-face files of ``base_name`` that the run did not (re)write."""
        names = {Path(p).name for p in written}
        return [p for p in self.existing(folder, base_name) if p.name not in names]
