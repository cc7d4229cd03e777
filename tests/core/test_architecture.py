"""The import contract: mtface.core never imports Qt, pyqtgraph, VTK / pyvista, mtface.gui nor
mtface.cli (the command line, the composition root above both), with no exception.

Every module under core/ is read (the files, not only what some entry point happens to import),
with its absolute, relative and function-local imports and its ``importlib.import_module``
calls; a subprocess then checks that importing the core really loads none of them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "core"
#: Top-level packages core/ must not import: Qt bindings, Qt-based plotting, VTK and its wrappers.
FORBIDDEN_ROOTS = (
    "PySide6",
    "PyQt5",
    "PyQt6",
    "shiboken6",
    "pyqtgraph",
    "vtk",
    "vtkmodules",
    "pyvista",
    "pyvistaqt",
)


def module_name(path: Path) -> str:
    """core/a/b.py -> mtface.core.a.b; core/a/__init__.py -> mtface.core.a."""
    parts = path.relative_to(CORE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("mtface", "core", *parts))


def imported_names(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every module name ``source`` (the text of ``module``) imports, anywhere in the file:
    ``import a.b`` -> a.b; ``from a import b`` -> a, a.b; relative imports resolved against
    the module's package; ``importlib.import_module("a")`` with a constant name -> a."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.append(prefix)
            names += [f"{prefix}.{alias.name}" for alias in node.names if alias.name != "*"]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("import_module", "__import__")
                )
            )
        ):
            names.append(node.args[0].value)
    return names


def is_forbidden(name: str) -> bool:
    root = name.split(".")[0]
    return (
        root in FORBIDDEN_ROOTS
        or root in ("gui", "cli")
        or any(name == top or name.startswith(top + ".") for top in ("mtface.gui", "mtface.cli"))
    )


def offenders() -> list[str]:
    found = []
    for path in sorted(CORE.rglob("*.py")):
        module = module_name(path)
        for name in imported_names(path.read_text(), module, path.name == "__init__.py"):
            if is_forbidden(name):
                found.append(f"{path.relative_to(REPO)}: {name}")
    return found


# --- smoke ----------------------------------------------------------------------------------


def test_every_core_module_is_read():
    modules = {module_name(p) for p in CORE.rglob("*.py")}
    assert {
        "mtface.core",
        "mtface.core.predictor",
        "mtface.core.training.trainer",
        "mtface.core.video.tracking",
        "mtface.core.annotation.session",
    } <= modules
    assert len(modules) > 40


def test_core_sources_import_no_gui_module():
    assert offenders() == []


def test_the_forbidden_names_are_recognised():
    assert is_forbidden("mtface.gui.app") and is_forbidden("mtface.cli.main")
    assert is_forbidden("PySide6.QtCore") and is_forbidden("pyvista")
    assert not is_forbidden("mtface.core.predictor") and not is_forbidden("numpy")


def test_geometry_builds_on_tensor_ops_one_way():
    """tensor_ops imports nothing of mtface; geometry imports it at the top of the module, with
    no import inside a function left to break a cycle."""
    tensor_ops = imported_names((CORE / "tensor_ops.py").read_text(), "mtface.core.tensor_ops")
    assert [name for name in tensor_ops if name.startswith("mtface")] == []
    tree = ast.parse((CORE / "geometry.py").read_text())
    top = [node.module for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert "mtface.core.tensor_ops" in top
    local = [
        node
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    assert local == []


# --- numerical values: the checker itself ----------------------------------------------------


@pytest.mark.parametrize(
    "source, module, expected",
    [
        ("from ...gui import app", "mtface.core.commands.x", ["mtface.gui", "mtface.gui.app"]),
        ("from ..gui.app import main", "mtface.core.x", ["mtface.gui.app", "mtface.gui.app.main"]),
        ("from . import geometry", "mtface.core.model", ["mtface.core", "mtface.core.geometry"]),
        (
            "from .tracking import Tracker",
            "mtface.core.video",
            ["mtface.core.video.tracking", "mtface.core.video.tracking.Tracker"],
        ),
        ("def f():\n    import PySide6.QtCore", "mtface.core.x", ["PySide6.QtCore"]),
        ("import importlib\nimportlib.import_module('vtk')", "mtface.core.x", ["importlib", "vtk"]),
    ],
    ids=[
        "relative-grandparent",
        "relative-parent",
        "relative-sibling",
        "relative-in-package",
        "in-function",
        "import-module",
    ],
)
def test_imported_names_resolve_relative_and_local_imports(source, module, expected):
    is_package = module == "mtface.core.video"
    assert imported_names(source, module, is_package) == expected


@pytest.mark.parametrize(
    "name, bad",
    [
        ("PySide6.QtWidgets", True),
        ("shiboken6", True),
        ("pyqtgraph", True),
        ("vtkmodules.all", True),
        ("pyvistaqt", True),
        ("mtface.gui.app", True),
        ("mtface.gui", True),
        ("mtface.guide", False),
        ("mtface.cli.main", True),
        ("mtface.cli", True),
        ("mtface.core.geometry", False),
        ("torch", False),
        ("trimesh", False),
    ],
)
def test_forbidden_names(name, bad):
    assert is_forbidden(name) is bad


# --- the modules really loaded ---------------------------------------------------------------


def _loaded_gui_modules(imports: str) -> list[str]:
    code = (
        f"import sys\n{imports}\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_ROOTS!r} "
        "or m.startswith('mtface.gui')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def test_predictor_and_trainer_load_no_gui_module():
    assert _loaded_gui_modules("import mtface.core.predictor, mtface.core.training.trainer") == []


@pytest.mark.slow
def test_importing_every_core_module_loads_no_gui_module():
    modules = sorted(module_name(p) for p in CORE.rglob("*.py"))
    imports = "\n".join(f"import {m}" for m in modules)
    assert _loaded_gui_modules(imports) == []
