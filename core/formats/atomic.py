"""Atomic file writes, mtface's one helper for them: a unique temporary file in the target
folder, flushed to disk (fsync), then renamed over the target, so a crash, a full disk or a
read-only folder never leaves a half-written file and never destroys the previous version.

:func:`atomic_write_set` writes several files as a set (every temporary file first, then the
renames); :func:`atomic_write_json` refuses NaN and Infinity (not JSON).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


class SaveError(OSError):
    """A file could not be written; the message says where and why; the old file is intact."""


def _stage(path: Path, write: Callable[[Path], None]) -> Path:
    """Write ``path``'s new content to a unique temporary file beside it, flushed to disk and
    with the final permissions; returns the temporary path (the caller renames it)."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=folder
        )
        os.close(fd)
    except OSError as exc:
        raise SaveError(f"cannot write {path}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files: give the result the permissions of the file it replaces,
        # or the usual ones (0666 less the umask) for a new file
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SaveError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` to ``path``. Returns ``path``.
    ``tmp_path`` is unique and ends with ``path``'s suffix (so writers that pick the format by
    suffix, or append one, work)."""
    path = Path(path)
    tmp = _stage(path, write)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SaveError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: Path, data: object, indent: int | None = 1) -> Path:
    """Write strict JSON: NaN and Infinity are refused (they are not JSON) with a ValueError
    before anything is written."""
    return atomic_write_text(path, dumps_strict_json(data, indent))


def dumps_strict_json(data: object, indent: int | None = 1) -> str:
    """``json.dumps`` that raises ValueError for NaN / Infinity instead of writing them."""
    try:
        return json.dumps(data, indent=indent, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"refusing to write non-finite numbers as JSON ({exc})") from exc


def atomic_write_csv(path: Path, header: list[str], rows: Iterable[Iterable[object]]) -> Path:
    """A CSV file (header row, then ``rows``) written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def atomic_write_set(items: Sequence[tuple[Path, Callable[[Path], None]]]) -> list[Path]:
    """Write several files as a set: every temporary file is written and flushed first; only
    when all succeeded are they renamed into place. A failure leaves every old file intact
    and no temporary file behind (raises SaveError)."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, write in items:
            path = Path(path)
            staged.append((_stage(path, write), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, SaveError):
            raise
        raise SaveError(
            f"cannot write {exc.filename or 'the output files'}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    return [path for _, path in staged]


def text_writer(text: str) -> Callable[[Path], None]:
    """A writer for :func:`atomic_write_set` / :func:`atomic_write`."""
    return lambda tmp: tmp.write_text(text, encoding="utf-8")


def bytes_writer(data: bytes) -> Callable[[Path], None]:
    return lambda tmp: tmp.write_bytes(data)


def remove_files(paths: Iterable[Path]) -> list[Path]:
    """Delete files (stale outputs of an earlier run); returns those removed. Raises SaveError
    when one cannot be removed."""
    removed = []
    for path in paths:
        try:
            Path(path).unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise SaveError(f"cannot remove the stale file {path}: {exc.strerror or exc}") from exc
        removed.append(Path(path))
    return removed
