"""The studio's settings that survive a restart (QSettings, an INI file in the user's
configuration folder: ``~/.config/mtface/studio.ini`` on Linux). Only the GUI reads them;
nothing in them changes an annotation. Tests point QSettings at a temporary folder
(tests/gui/conftest.py), so they never read or leave the user's settings.

Keys: ``review/sort``, ``review/filter``, ``autosave``, ``landmarks`` ("3d" / "2d"),
``formats`` (list of format names), ``layout/geometry``, ``layout/state``, ``layout/splitter``,
``layout/panel_3d``, ``display/marker_size``, ``display/point_numbers``,
``display/brightness``, ``display/contrast``, ``any_rotation`` (File > Find faces at any
rotation).
"""

from __future__ import annotations

from typing import TypeVar

from PySide6 import QtCore

ORGANIZATION, APPLICATION = "mtface", "studio"
T = TypeVar("T", bool, int, float, str)


def studio_settings() -> QtCore.QSettings:
    """The studio's settings store (INI format, user scope)."""
    return QtCore.QSettings(
        QtCore.QSettings.Format.IniFormat,
        QtCore.QSettings.Scope.UserScope,
        ORGANIZATION,
        APPLICATION,
    )


def read(key: str, default: T) -> T:
    """The stored value of ``key`` as the type of ``default``; ``default`` when the key is
    missing or its value cannot be read as that type (a hand-edited file)."""
    value = studio_settings().value(key, default)
    try:
        if isinstance(default, bool):
            return (value.lower() in ("true", "1")) if isinstance(value, str) else bool(value)
        return type(default)(value)
    except (TypeError, ValueError):
        return default


def read_list(key: str, default: list[str]) -> list[str]:
    """A stored list of strings (QSettings gives one string for a one-item list)."""
    value = studio_settings().value(key, default)
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value] if isinstance(value, list | tuple) else list(default)


def write(key: str, value: object) -> None:
    studio_settings().setValue(key, value)


def read_bytes(key: str) -> QtCore.QByteArray | None:
    value = studio_settings().value(key)
    return value if isinstance(value, QtCore.QByteArray) else None
