"""Output names for batch commands (``predict``, ``annotate --out``) that cannot collide, and
the stale per-face files of an earlier run.

An image's outputs are named after its path relative to the folder it was found in (files given
one by one: their name), without the image suffix: ``a/face.png`` -> ``a/face``. When two images
of one run would get the same name (``face.jpg`` and ``face.png`` in one folder, or two files
called ``face.jpg`` from different folders), those keep their suffix (``face.jpg``) and, if that
is still not unique, a ``~K`` counter in the order the images were given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mtface.core.imageio import IMAGE_SUFFIXES

FACE_FILE_SUFFIXES = ("pts", "obj", "ply")


@dataclass(frozen=True)
class ImageJob:
    """One image of a run and the base of its output names (``/``-separated, no suffix)."""

    path: Path
    base: str


def expand_inputs(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """(image, path relative to its input) for every image of files and folders; a file given
    twice (or found through two inputs) is kept once."""
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
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                out.append((path, rel))
    return out


def plan_outputs(inputs: list[Path]) -> list[ImageJob]:
    """Every image of ``inputs`` with a unique output base (see the module docstring)."""
    pairs = expand_inputs(inputs)
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
