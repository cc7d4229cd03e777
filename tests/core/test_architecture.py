"""The import contract: core/ never imports Qt, pyqtgraph, pyvista or VTK (nor gui/)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "pyvista", "pyvistaqt", "vtk",
             "vtkmodules", "mtface.gui", "gui")


def test_core_sources_import_no_gui_module():
    offenders = []
    for path in (REPO / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN or name.startswith("mtface.gui"):
                    if not (path.name == "cli.py" and name == "mtface.gui.app"):
                        offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert offenders == []


def test_importing_the_core_loads_no_gui_module():
    code = ("import sys, mtface.core.predictor, mtface.core.commands.predict, "
            "mtface.core.training.trainer, mtface.core.evaluation; "
            "bad=[m for m in sys.modules if m.split('.')[0] in "
            "('PySide6','pyqtgraph','pyvista','pyvistaqt','vtk','vtkmodules')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
