"""``mtface model pack WEIGHTS --out MODEL.pt`` and ``mtface model info [MODEL]``.

``pack`` makes one model file (``mtface-model/2``, core/model_file.py) of any model: an
old-format weights file with the 2D refiner and 3d offsets beside it, or a model file (to
rename it with ``--name``). ``info`` prints what a model file is and holds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtface.core.weights import WeightsError, bundled_name, write_checksums

if TYPE_CHECKING:
    from mtface.core.model_file import ModelIdentity


def run_model(args: argparse.Namespace) -> int:
    if args.model_command == "pack":
        return _pack(args)
    if args.model_command == "info":
        return _info(args)
    return 2


def write_model_file(weights: Path | None, out: Path, **changes: Any) -> ModelIdentity:
    """``update_model(weights, out, **changes)`` (core/model_file.py, atomic), then
    resources/SHA256SUMS refreshed when ``out`` is a bundled file, so the shipped model still
    verifies. SaveError / OSError (exit 1) and WeightsError (exit 2) are left to the command
    line's one-line error (core/errors.py)."""
    from mtface.core.model_file import update_model

    identity = update_model(weights, out, **changes)
    if bundled_name(out) is not None:
        write_checksums()
    return identity


def _pack(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.is_dir():
        print(
            f"error: --out {out} is a folder; give the model file to write (.pt)", file=sys.stderr
        )
        return 2
    if bundled_name(out) is not None and not args.replace_bundled:
        print(
            f"error: {out} is a bundled file; give another --out, or --replace-bundled to "
            "replace the shipped model (SHA256SUMS is refreshed)",
            file=sys.stderr,
        )
        return 2
    if out.exists() and not (args.overwrite or args.replace_bundled):
        print(f"error: {out} exists; add --overwrite to replace it", file=sys.stderr)
        return 2
    meta = {"name": args.name} if args.name else None
    identity = write_model_file(args.weights, out, meta=meta)
    size = out.stat().st_size / 1e6
    print(
        f"wrote {out} ({size:.2f} MB): {identity.name}, sha256 {identity.short_hash}, "
        f"parts {', '.join(identity.parts)}",
        file=sys.stderr,
    )
    return 0


def info_lines(info: dict) -> list[str]:
    """``describe_model``'s dict as the lines ``mtface model info`` prints."""
    identity = info["identity"]
    meta = info["meta"]
    lines = [
        f"name:      {identity['name']}",
        f"file:      {info['file']} ({info['bytes'] / 1e6:.2f} MB, {info['format']})",
        f"sha256:    {identity['sha256']}",
        "parts:",
        *(f"  {name}: {what}" for name, what in info["parts"].items()),
    ]
    if info["companions"]:
        lines.append("read beside it (old format): " + ", ".join(info["companions"]))
    for key in ("created", "landmarks"):
        if key in meta:
            lines.append(f"{key + ':':<10} {meta[key]}")
    if meta.get("trained_on"):
        lines.append("trained on:")
        lines += [f"  {entry}" for entry in meta["trained_on"]]
    if meta.get("held_out"):
        lines.append("held out: " + json.dumps(meta["held_out"]))
    return lines


def _info(args: argparse.Namespace) -> int:
    from mtface.core.model_file import describe_model

    try:
        info = describe_model(args.model)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        print("\n".join(info_lines(info)))
    return 0
