"""One model file (``mtface-model/2``): everything a model needs travels in it.

A model file is a torch file read with ``weights_only=True``; its payload is a dict:

* ``format``: ``"mtface-model/2"``;
* ``config`` and ``state_dict``: the cascade (core/model.py), fp16 in the shipped file; the
  pose calibration (ADR 14) is baked into the weights and recorded in ``meta``;
* ``refiner2d``: the 2D landmark refiner (core/refine2d.py, ADR 11) as named arrays (tensors;
  the text entries as strings), or None;
* ``offsets3d``: the 3d landmark offsets (core/landmarks3d.py, ADR 15) as
  ``{"offsets": (68, 3) float64, "faces": int, "images": [str, ...]}``, or None;
* ``meta``: a JSON-like dict: ``name``, ``created`` (ISO 8601 UTC), ``trained_on`` (list of
  "dataset: licence" strings), ``held_out`` (figures on faces it did not see), ``landmarks``
  (the landmark convention it reproduces), ``pose_calibration`` when calibrated, and any
  training record;
* ``checksum``: ``{"sha256": weights.payload_checksum(payload)}`` over all of the above.

Files of the older format (``mtface-cascade/1``: weights only) still load; the files fitted
for them that lie beside them (``W.refine2d.npz``, ``W.offsets3d.npz``) are read once, with a
note that ``mtface model pack`` makes one file of them (docs/adr/0020-one-model-file.md).

A model's identity (:class:`ModelIdentity`) is its name, the SHA-256 of the file (what
``sha256sum`` prints; a copy keeps it) and the parts it holds.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from mtface.core.checkpoint import (
    FORMAT as LEGACY_FORMAT,
)
from mtface.core.checkpoint import (
    MODEL_FORMAT,
    cascade_from_payload,
    companion_path,
    default_weights_path,
    load_payload,
)
from mtface.core.formats.atomic import atomic_write
from mtface.core.landmarks3d import OFFSETS_SUFFIX, Landmark3DOffsets
from mtface.core.model import CascadeMTCNN
from mtface.core.refine2d import Refiner2D
from mtface.core.topology import Topology
from mtface.core.weights import WeightsError, payload_checksum, sha256_of, verify_checksum

FORMAT = MODEL_FORMAT
#: The parts a model can hold, in this order.
MODEL_PARTS = ("cascade", "refiner2d", "offsets3d", "pose_calibration")
#: Suffix of the 2D refiner beside an old-format weights file.
REFINER_SUFFIX = ".refine2d.npz"
_NOTED: set[str] = set()  # old-format files whose companions were reported once


@dataclass(frozen=True)
class ModelIdentity:
    """Which model produced an output: ``name`` (its metadata's, else the file's stem),
    ``sha256`` (hex; of the model file; for an old-format file with companions, of the lines
    "<sha256 of the file>  <part>" of the weights and each companion read; empty for a model
    never saved) and ``parts`` (among MODEL_PARTS, in that order)."""

    name: str
    sha256: str
    parts: tuple[str, ...]

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of ``sha256`` (what the studio shows)."""
        return self.sha256[:12]

    def label(self) -> str:
        """``name (short hash)``, for a title or a status bar."""
        return f"{self.name} ({self.short_hash or 'not saved'})"

    def to_dict(self) -> dict:
        """``{"name", "sha256", "parts"}`` for JSON files (docs/formats.md)."""
        return {"name": self.name, "sha256": self.sha256, "parts": list(self.parts)}

    def with_parts(self, parts: tuple[str, ...]) -> ModelIdentity:
        """The same model, holding only ``parts`` (kept in MODEL_PARTS order)."""
        return ModelIdentity(self.name, self.sha256, tuple(p for p in MODEL_PARTS if p in parts))


def applied_parts(parts: tuple[str, ...] | list[str], convention: str) -> tuple[str, ...]:
    """The parts of a model holding ``parts`` that shape a face of landmark definition
    ``convention`` ('3d' / '2d') predicted from a photo: the cascade and its pose calibration
    always, the 3d offsets for '3d' only, the 2D refiner for '2d' only."""
    skip = "refiner2d" if convention == "3d" else "offsets3d"
    return tuple(p for p in MODEL_PARTS if p in parts and p != skip)


def model_identity_of(predictor: object) -> ModelIdentity | None:
    """The identity of a predictor's model (``Predictor.model_identity``); None for an object
    without one (a test's fake predictor)."""
    identity = getattr(predictor, "model_identity", None)
    return identity if isinstance(identity, ModelIdentity) else None


def model_record(predictor: object, convention: str | None = None) -> dict | None:
    """What an output file records of the model that made a face of ``convention`` ('3d' /
    '2d'; default: the predictor's): ``{"name", "sha256", "parts"}`` with the parts APPLIED to
    that face. None for a predictor without an identity."""
    identity = model_identity_of(predictor)
    if identity is None:
        return None
    convention = convention or getattr(predictor, "landmarks", "3d")
    return {**identity.to_dict(), "parts": list(applied_parts(identity.parts, convention))}


@dataclass(frozen=True)
class LoadedModel:
    """A model read from a file: the cascade (eval mode), its 2D refiner and 3d offsets (None
    when it has none), its metadata, its identity, the file, the file's format and the
    old-format companion files read beside it. An old-format file's refiner is the path of
    its companion, read when first needed (as before: a 3d-only user of an old model with a
    broken refiner file is not stopped); :meth:`refiner_2d` reads it."""

    cascade: CascadeMTCNN
    refiner: Refiner2D | Path | None
    offsets: Landmark3DOffsets | None
    meta: dict
    identity: ModelIdentity
    path: Path
    format: str
    companions: tuple[Path, ...] = field(default_factory=tuple)
    half: bool = False
    """True when the file stores the weights in fp16 (a rewrite keeps that precision)."""

    def refiner_2d(self) -> Refiner2D | None:
        """The 2D refiner, read now if it is an old-format companion; WeightsError when it
        cannot be used."""
        if not isinstance(self.refiner, Path):
            return self.refiner
        verify_checksum(self.refiner)
        try:
            return Refiner2D.load(self.refiner)
        except RuntimeError as exc:
            raise WeightsError(str(exc)) from exc


def parts_of(
    refiner: object | None, offsets: object | None, meta: Mapping | None
) -> tuple[str, ...]:
    """The parts a model with these pieces holds (MODEL_PARTS order)."""
    present = {
        "cascade": True,
        "refiner2d": refiner is not None,
        "offsets3d": offsets is not None,
        "pose_calibration": bool((meta or {}).get("pose_calibration")),
    }
    return tuple(p for p in MODEL_PARTS if present[p])


# --- writing --------------------------------------------------------------------------------


def refiner_to_payload(refiner: Refiner2D) -> dict[str, torch.Tensor | str]:
    """The refiner's arrays as tensors (text entries as strings)."""
    out: dict[str, torch.Tensor | str] = {}
    for name, array in refiner.to_arrays().items():
        if array.dtype.kind in "US":
            out[name] = str(array)
        else:
            out[name] = torch.from_numpy(np.array(array, copy=True))
    return out


def refiner_from_payload(entries: Mapping, origin: str) -> Refiner2D:
    """The refiner of a model file's ``refiner2d`` entry; RuntimeError when unusable."""
    if not isinstance(entries, Mapping):
        raise RuntimeError(f"cannot read the 2D landmark refiner {origin}: not a table")
    arrays = {
        str(k): v.numpy() if isinstance(v, torch.Tensor) else np.array(v)
        for k, v in entries.items()
    }
    return Refiner2D.from_arrays(arrays, origin)


def offsets_to_payload(offsets: Landmark3DOffsets) -> dict:
    return {
        "offsets": torch.from_numpy(np.asarray(offsets.offsets, np.float64).copy()),
        "faces": int(offsets.faces),
        "images": [str(n) for n in offsets.images],
    }


def offsets_from_payload(entry: Mapping, origin: str) -> Landmark3DOffsets:
    """The 3d offsets of a model file's ``offsets3d`` entry; ValueError when unusable."""
    try:
        offsets = np.asarray(entry["offsets"].numpy(), np.float64)
        faces = int(entry["faces"])
        images = tuple(str(n) for n in entry.get("images", ()))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{origin}: not usable 3d landmark offsets ({exc})") from exc
    if offsets.shape != (68, 3) or not np.isfinite(offsets).all():
        raise ValueError(f"{origin}: offsets must be 68 finite (x, y, z), got {offsets.shape}")
    return Landmark3DOffsets(offsets, faces, images)


def json_meta(meta: Mapping | None) -> dict:
    """``meta`` as plain JSON values (paths and other objects as strings; a weights_only
    torch file can hold them)."""
    return json.loads(json.dumps(dict(meta or {}), default=str))


def save_model(
    path: Path,
    model: CascadeMTCNN,
    refiner: Refiner2D | None = None,
    offsets: Landmark3DOffsets | None = None,
    meta: Mapping | None = None,
    half: bool = True,
) -> ModelIdentity:
    """Write one model file (``mtface-model/2``) atomically, checksum inside, and return its
    identity. ``meta``: name (default: the file's stem), created (default: now), trained_on,
    held_out, landmarks, pose_calibration, and anything else JSON can hold. ``half``: the
    weights in fp16 (the shipped file's precision; the refiner's weights are fp16 always)."""
    path = Path(path)
    meta = json_meta(meta)
    meta.setdefault("name", path.name.rsplit(".", 1)[0])
    meta.setdefault("created", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
        for k, v in model.state_dict().items()
    }
    payload: dict = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": state,
        "refiner2d": refiner_to_payload(refiner) if refiner is not None else None,
        "offsets3d": offsets_to_payload(offsets) if offsets is not None else None,
        "meta": meta,
    }
    payload["checksum"] = {"sha256": payload_checksum(payload)}
    atomic_write(path, lambda tmp: torch.save(payload, tmp))
    return ModelIdentity(meta["name"], sha256_of(path), parts_of(refiner, offsets, meta))


# --- reading --------------------------------------------------------------------------------


def _companion(weights: Path, suffix: str) -> Path | None:
    path = companion_path(weights, suffix)
    return path if path.is_file() else None


def model_path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a model file before it is read (a folder, missing, empty), or
    None."""
    if not str(path).strip():
        return "is empty; give a model file (.pt)"
    if path.is_dir():
        return f"{path} is a folder, expected a model file (.pt)"
    if not path.exists():
        return f"model file not found: {path}"
    if not path.is_file():
        return f"{path} is not a regular file, expected a model file (.pt)"
    if path.stat().st_size == 0:
        return f"{path} is empty (0 bytes), expected a model file (.pt)"
    return None


def load_model(path: Path | None = None, topology: Topology | None = None) -> LoadedModel:
    """Read a model file (default: the shipped model) of either format; WeightsError with one
    clear message when it is a folder, missing, truncated, corrupt (checksum), not a model
    file, or when a part is unusable. An old-format file's companions are read once, with a
    note on stderr."""
    path = Path(path) if path is not None else default_weights_path()
    payload = load_payload(path)  # a folder, a missing file, a changed bundled file, a bad file
    cascade = cascade_from_payload(payload, path, topology)
    half = any(
        isinstance(v, torch.Tensor) and v.dtype == torch.float16
        for v in payload["state_dict"].values()
    )
    meta = payload.get("meta") or {}
    if not isinstance(meta, dict):
        raise WeightsError(f"model file {path}: its metadata is not a table")
    if payload["format"] == FORMAT:
        try:
            refiner = (
                refiner_from_payload(payload["refiner2d"], f"in {path}")
                if payload.get("refiner2d") is not None
                else None
            )
            offsets = (
                offsets_from_payload(payload["offsets3d"], f"3d offsets in {path}")
                if payload.get("offsets3d") is not None
                else None
            )
        except (RuntimeError, ValueError) as exc:
            raise WeightsError(str(exc)) from exc
        name = str(meta.get("name") or path.name.rsplit(".", 1)[0])
        identity = ModelIdentity(name, sha256_of(path), parts_of(refiner, offsets, meta))
        return LoadedModel(cascade, refiner, offsets, meta, identity, path, FORMAT, (), half)
    return _legacy_model(path, cascade, meta, half)


def _legacy_model(path: Path, cascade: CascadeMTCNN, meta: dict, half: bool) -> LoadedModel:
    """An ``mtface-cascade/1`` file and the companions beside it."""
    refiner_file = _companion(path, REFINER_SUFFIX)
    offsets_file = _companion(path, OFFSETS_SUFFIX)
    offsets = None
    try:
        if offsets_file is not None:
            verify_checksum(offsets_file)
            offsets = Landmark3DOffsets.load(offsets_file)
    except (RuntimeError, ValueError) as exc:
        raise WeightsError(str(exc)) from exc
    lines = [f"{sha256_of(path)}  cascade"]
    companions = []
    for part, file in (("refiner2d", refiner_file), ("offsets3d", offsets_file)):
        if file is not None:
            lines.append(f"{sha256_of(file)}  {part}")
            companions.append(file)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest() if companions else None
    identity = ModelIdentity(
        str(meta.get("name") or path.name.rsplit(".", 1)[0]),
        digest or sha256_of(path),
        parts_of(refiner_file, offsets, meta),
    )
    key = str(path.resolve())
    if companions and key not in _NOTED:
        _NOTED.add(key)
        print(
            f"note: {path} is an old-format model ({LEGACY_FORMAT}); read "
            + " and ".join(f.name for f in companions)
            + f" beside it. `mtface model pack {path} --out MODEL.pt` makes one file of them.",
            file=sys.stderr,
        )
    return LoadedModel(
        cascade, refiner_file, offsets, meta, identity, path, LEGACY_FORMAT, tuple(companions), half
    )


# --- rewriting ------------------------------------------------------------------------------


def update_model(
    path: Path,
    out: Path | None = None,
    refiner: Refiner2D | None = None,
    offsets: Landmark3DOffsets | None = None,
    drop: tuple[str, ...] = (),
    meta: Mapping | None = None,
) -> ModelIdentity:
    """Rewrite the model ``path`` (either format) as one ``mtface-model/2`` file at ``out``
    (default: ``path`` itself, atomically) with the same weights in the same precision: a
    given ``refiner`` / ``offsets`` replaces the model's, ``drop`` ('refiner2d', 'offsets3d')
    removes parts, ``meta`` entries are added or replaced. An old-format file's companions go
    into the file (they stay on disk, no longer read for it). WeightsError when ``path`` is
    unusable. Returns the new file's identity."""
    loaded = load_model(path)
    unknown = set(drop) - {"refiner2d", "offsets3d"}
    if unknown:
        raise ValueError(f"cannot drop {sorted(unknown)}: only refiner2d and offsets3d")
    new_refiner = None if "refiner2d" in drop else (refiner or loaded.refiner_2d())
    new_offsets = None if "offsets3d" in drop else (offsets or loaded.offsets)
    new_meta = {**loaded.meta, **dict(meta or {})}
    target = Path(out) if out is not None else loaded.path
    if loaded.format != FORMAT or target != loaded.path:
        new_meta.setdefault("name", loaded.identity.name)
        new_meta["packed_from"] = {
            "file": loaded.path.name,
            "format": loaded.format,
            "sha256": loaded.identity.sha256,
            "companions": [c.name for c in loaded.companions],
        }
    return save_model(target, loaded.cascade, new_refiner, new_offsets, new_meta, loaded.half)


def describe_model(path: Path | None = None) -> dict:
    """What ``mtface model info`` prints: the file, its format, size, identity, parts (with
    what each holds) and metadata. WeightsError when unusable."""
    loaded = load_model(path)
    refiner = loaded.refiner_2d()
    parts: dict[str, str] = {
        "cascade": f"{sum(p.numel() for p in loaded.cascade.parameters()) / 1e6:.2f} M "
        f"parameters, {'fp16' if loaded.half else 'fp32'}, crop "
        f"{loaded.cascade.config.crop_size} px"
    }
    if refiner is not None:
        parts["refiner2d"] = f"{len(refiner.stages)} descent steps; {refiner.source}"
    if loaded.offsets is not None:
        parts["offsets3d"] = f"68 offsets fitted on {loaded.offsets.faces} faces"
    calibration = loaded.meta.get("pose_calibration")
    if isinstance(calibration, Mapping):
        parts["pose_calibration"] = (
            f"pitch {float(calibration.get('pitch_offset_deg', 0.0)):+.2f} degrees "
            f"({calibration.get('faces', '?')} faces)"
        )
        frame = calibration.get("mesh_frame")
        if isinstance(frame, Mapping):  # ADR 34: the reported pose is the mesh's in this frame
            parts["pose_calibration"] += (
                f"; pose from the mesh, head tilt {float(frame.get('head_tilt_deg', 0.0)):+.2f}, "
                f"camera tilt {float(frame.get('camera_tilt_deg', 0.0)):+.2f} degrees "
                f"({frame.get('faces', '?')} faces)"
            )
    return {
        "file": str(loaded.path),
        "format": loaded.format,
        "bytes": loaded.path.stat().st_size,
        "identity": loaded.identity.to_dict(),
        "parts": parts,
        "companions": [str(c) for c in loaded.companions],
        "meta": {k: v for k, v in loaded.meta.items() if k != "train_config"},
    }
