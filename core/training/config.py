"""Checking a training config (``mtface train --config FILE``) before anything is written.

A config is a JSON object. Its keys must be fields of the trainer's ``TrainConfig``, keys of the
shipped configs (resources/configs/*.json) or ``sample_weights``; the known keys are checked
for type and range, ``train_dir`` and ``val_dir`` folders must be sample sets, ``aflw_val_dir``
an AFLW crop folder (``labels.npz``), ``human_val_labels`` a label folder
(``manifest.json``), ``init_weights`` must exist: a wrong path fails at the start, not after
the first epoch. Every problem is reported at once, in one ConfigError.

Relative paths in a config file are relative to the file's folder (absolute paths are kept);
paths given on the command line (``--out-dir``) are relative to the current folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mtface.core.resources import resource_path

#: keys accepted although the trainer may not define them yet (the data options)
EXTRA_KEYS = frozenset({"sample_weights"})


class ConfigError(ValueError):
    """A training config that cannot be used; the message lists every problem."""


@dataclass(frozen=True)
class Rule:
    """What a key takes: ``kinds`` among int, number, str, list[str], list[number], dict,
    null; ``minimum`` for numbers; ``folder``: the file a folder must hold (``meta.json`` of
    a sample set), ``file`` for a path that must exist; ``what`` names the folder's kind."""

    kinds: tuple[str, ...]
    minimum: float | None = None
    folder: str | None = None
    file: bool = False
    what: str = ""


#: Keys that hold paths (resolved against a config file's folder).
PATH_KEYS = (
    "train_dir",
    "val_dir",
    "aflw_val_dir",
    "human_val_labels",
    "out_dir",
    "init_weights",
)
_SAMPLE_SET = "a training set (make one with `mtface data synthesize`)"


RULES: dict[str, Rule] = {
    "train_dir": Rule(("str", "list[str]"), folder="meta.json", what=_SAMPLE_SET),
    "val_dir": Rule(("str", "null"), folder="meta.json", what=_SAMPLE_SET),
    "aflw_val_dir": Rule(("str", "null"), folder="labels.npz", what="an AFLW crop folder"),
    "human_val_labels": Rule(
        ("str", "null"),
        folder="manifest.json",
        what="a label folder (make one with `mtface data import-annotations`)",
    ),
    "out_dir": Rule(("str",)),
    "epochs": Rule(("int",), minimum=1),
    "stage1_epochs": Rule(("int",), minimum=0),
    "batch_size": Rule(("int",), minimum=1),
    "lr": Rule(("number",), minimum=0),
    "weight_decay": Rule(("number",), minimum=0),
    "seed": Rule(("int",)),
    "num_workers": Rule(("int",), minimum=0),
    "max_steps_per_epoch": Rule(("int", "null"), minimum=0),
    "val_limit": Rule(("int", "null"), minimum=1),
    "model": Rule(("dict",)),
    "augment": Rule(("dict",)),
    "init_weights": Rule(("str", "null"), file=True),
    "sample_weights": Rule(("list[number]", "null"), minimum=0),
}


def _kind_ok(value: object, kind: str) -> bool:
    number = (int, float)
    if kind == "null":
        return value is None
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, number) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str) and bool(value.strip())
    if kind == "dict":
        return isinstance(value, dict)
    if kind == "list[str]":
        return isinstance(value, list) and bool(value) and all(_kind_ok(v, "str") for v in value)
    if kind == "list[number]":
        return isinstance(value, list) and bool(value) and all(_kind_ok(v, "number") for v in value)
    raise ValueError(f"unknown kind {kind}")


def shipped_keys() -> frozenset[str]:
    """Every key used by the configs in resources/configs."""
    keys: set[str] = set()
    for path in sorted(resource_path("configs").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            keys |= set(data)
    return frozenset(keys)


@dataclass
class ConfigCheck:
    """A config's values (after command-line overrides) and the keys it may use."""

    values: dict
    allowed: frozenset[str]
    source: str = "config"
    problems: list[str] = field(default_factory=list)

    def validate(self) -> dict:
        """The values when usable; raises ConfigError listing every problem."""
        self.problems = []
        unknown = sorted(set(self.values) - self.allowed)
        if unknown:
            self.problems.append(
                f"unknown key(s) {', '.join(map(repr, unknown))} (known: "
                f"{', '.join(sorted(self.allowed))})"
            )
        if "train_dir" not in self.values:
            self.problems.append("'train_dir' is required (a sample-set folder or a list)")
        for key, value in self.values.items():
            rule = RULES.get(key)
            if rule is not None and key in self.allowed:
                self._check(key, value, rule)
        if not self.problems:
            self._check_relations()
        if self.problems:
            raise ConfigError(f"{self.source}: " + "; ".join(self.problems))
        return self.values

    def _check(self, key: str, value: object, rule: Rule) -> None:
        if not any(_kind_ok(value, kind) for kind in rule.kinds):
            self.problems.append(
                f"{key!r} must be {' or '.join(rule.kinds)}, not {json.dumps(value)[:60]}"
            )
            return
        numbers = value if isinstance(value, list) else [value]
        if rule.minimum is not None:
            for v in numbers:
                if isinstance(v, (int, float)) and not (math.isfinite(v) and v >= rule.minimum):
                    self.problems.append(
                        f"{key!r} must be finite and at least {rule.minimum:g}, not {v}"
                    )
                    return
        if rule.folder:
            for folder in numbers:
                if isinstance(folder, str) and not (Path(folder) / rule.folder).is_file():
                    what = (
                        "does not exist"
                        if not Path(folder).exists()
                        else f"is not {rule.what} (no {rule.folder})"
                    )
                    self.problems.append(f"{key!r}: {folder} {what}")
        if rule.file and isinstance(value, str) and not Path(value).is_file():
            self.problems.append(f"{key!r}: {value} does not exist")

    def _check_relations(self) -> None:
        from mtface.core.model import CascadeConfig

        v = self.values
        weights = v.get("sample_weights")
        folders = v["train_dir"] if isinstance(v["train_dir"], list) else [v["train_dir"]]
        if weights is not None and len(weights) != len(folders):
            self.problems.append(
                f"'sample_weights' has {len(weights)} value(s) for "
                f"{len(folders)} train_dir folder(s)"
            )
        augment = v.get("augment") or {}
        if isinstance(augment, dict):
            self._check_augment(augment)
        try:
            CascadeConfig.from_dict(v.get("model", {}))
        except (TypeError, ValueError, KeyError) as exc:
            self.problems.append(f"'model': {exc}")

    def _check_augment(self, augment: dict) -> None:
        from dataclasses import fields

        from mtface.core.training.dataset import AugmentConfig

        known = {f.name: f.default for f in fields(AugmentConfig)}
        for key, value in augment.items():
            if key not in known:
                self.problems.append(
                    f"'augment': unknown key {key!r} (known: {', '.join(sorted(known))})"
                )
            elif isinstance(known[key], tuple):
                if not (
                    _kind_ok(value, "list[number]")
                    and len(value) == 2
                    and 0 < value[0] <= value[1]
                    and all(math.isfinite(x) for x in value)
                ):
                    self.problems.append(
                        f"'augment': {key!r} must be [low, high] with 0 < low <= high, "
                        f"not {json.dumps(value)[:60]}"
                    )
            elif not (_kind_ok(value, "number") and math.isfinite(value) and 0 <= value <= 1):
                self.problems.append(
                    f"'augment': {key!r} must be a number from 0 to 1, not {json.dumps(value)[:60]}"
                )


def read_config(path: Path, overrides: dict | None, fields: Iterable[str]) -> dict:
    """Read a config file, apply the non-None ``overrides``, check it (see ConfigCheck);
    ``fields`` are the trainer's own config fields. Raises ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc})") from exc
    try:
        values = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(values, dict):
        raise ConfigError(
            f"{path}: a config is a JSON object of settings, not a {type(values).__name__}"
        )
    values = resolve_paths(values, path.parent)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return check_config(values, fields, str(path))


def resolve_paths(values: dict, folder: Path) -> dict:
    """``values`` with the relative paths of :data:`PATH_KEYS` made relative to ``folder``
    (a config file's folder); absolute paths and other values are kept."""

    def resolve(value: object) -> object:
        if isinstance(value, str) and value.strip() and not Path(value).is_absolute():
            return str(Path(folder) / value)
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return {k: resolve(v) if k in PATH_KEYS else v for k, v in values.items()}


def check_config(values: dict, fields: Iterable[str], source: str = "config") -> dict:
    """Check ``values`` (a dict, e.g. ``asdict(config)``); raises ConfigError."""
    allowed = frozenset(fields) | shipped_keys() | EXTRA_KEYS
    return ConfigCheck(dict(values), allowed, source).validate()


def _no_constant(token: str) -> float:
    raise ValueError(f"{token} is not a number")
