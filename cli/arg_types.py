"""Argument types shared by every ``mtface`` command: one check, one message, for the same kind
of option everywhere (argparse prints ``mtface CMD: error: argument --X: <message>`` and exits
with 2).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def positive_int(text: str) -> int:
    """An integer of at least 1 (``--variants``, ``--workers``, ``--limit``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def fraction(text: str) -> float:
    """A share from 0 to 1 inclusive (``--val-fraction``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"must be a share from 0 to 1, not {text}")
    return value


def output_folder(text: str) -> Path:
    """A folder to write into: not empty (``--out ''`` would write into the current folder)
    and not an existing file. It need not exist yet."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a folder to write into")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; give a folder")
    return path


def shard(text: str) -> tuple[int, int]:
    """``K/N``: the K-th of N parts (1 <= K <= N) of the sorted image list."""
    parts = text.split("/")
    try:
        k, n = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N (e.g. 1/4)") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"{text}: K/N needs 1 <= K <= N")
    return k, n
