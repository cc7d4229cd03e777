"""The annotation formats chosen for a folder, remembered in the folder itself.

``FOLDER/.mtface-folder.json`` = ``{"formats": ["labelme", "coco"]}``, written when a person
changes the choice in the studio (File > Save formats), so every save of any image of the folder
writes each chosen format, and the choice travels with the folder. labelme is always among
them (the studio's own format). Without the file the choice is labelme alone. Saving an image
also rewrites every other format already beside it, so no export goes stale
(ImageDocument.save_all, docs/adr/0017-one-truth-per-face.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from mtface.core.formats.annotations import FORMATS
from mtface.core.formats.atomic import atomic_write_json

SETTINGS_NAME = ".mtface-folder.json"


def folder_formats(folder: Path) -> tuple[str, ...]:
    """The formats chosen for ``folder`` (labelme first; unreadable or absent file: labelme)."""
    try:
        data = json.loads((Path(folder) / SETTINGS_NAME).read_text(encoding="utf-8"))
        chosen = data.get("formats") if isinstance(data, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        chosen = None
    chosen = chosen if isinstance(chosen, list) else []
    return tuple(f for f in FORMATS if f == "labelme" or f in chosen)


def set_folder_formats(folder: Path, formats: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Remember ``formats`` (plus labelme) for ``folder``; keeps other keys of the file.
    Raises ValueError for an unknown format, SaveError when the file cannot be written."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown annotation format(s) {sorted(unknown)}; use {FORMATS}")
    path = Path(folder) / SETTINGS_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    chosen = tuple(f for f in FORMATS if f == "labelme" or f in formats)
    data["formats"] = list(chosen)
    atomic_write_json(path, data)
    return chosen
