"""The layers import one way (``../shared/DESIGN.md`` §1): ``ir`` imports nothing of the project
outside itself (and nothing of onnx); ``passes`` imports ``ir`` only; ``backends`` never the
frontend, the passes or the driver; the frontend only ``ir``, its own modules and the onnxruntime
session builder. No import cycles between modules, function-level imports
included."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"bnnc": ROOT / "bnnc", "bnnc.ir": ROOT / "ir", "bnnc.passes": ROOT / "passes", "bnnc.backends": ROOT / "backends"}

ALLOWED = {
    "bnnc.ir": ("bnnc.ir",),
    "bnnc.passes": ("bnnc.ir", "bnnc.passes"),
    "bnnc.backends": ("bnnc.ir", "bnnc.backends"),
    "bnnc.frontend": ("bnnc.ir", "bnnc.frontend", "bnnc.backends.onnx_session"),
}
"""Project modules each layer may import (by prefix); the driver layer (``bnnc``) may import all."""


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            relative = path.relative_to(folder).with_suffix("")
            if package == "bnnc" and relative.parts[0] in ("ir", "passes", "backends"):
                continue
            parts = [p for p in relative.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports (anywhere in the file)."""
    is_package = path.name == "__init__.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module for alias in node.names]
        else:
            continue
        imported.update(t for t in targets if t.split(".")[0] in ("bnnc", "onnx", "onnxruntime"))
    return imported


GRAPH = nx.DiGraph()
for _name, _path in MODULES.items():
    GRAPH.add_node(_name)
    for _target in _imports(_name, _path):
        GRAPH.add_edge(_name, _target)


def _layer(module: str) -> str | None:
    return next((layer for layer in sorted(ALLOWED, key=len, reverse=True) if module == layer or module.startswith(layer + ".")), None)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module: str) -> None:
    layer = _layer(module)
    if layer is None:
        return  # the driver layer: bnnc.api, bnnc.cli, ...
    bad = sorted(
        t for t in GRAPH.successors(module)
        if t.startswith("bnnc") and not any(t == a or t.startswith(a + ".") for a in ALLOWED[layer])
    )
    assert not bad, f"{module} ({layer}) imports {', '.join(bad)}"


def test_ir_does_not_import_onnx() -> None:
    bad = {m: t for m in MODULES if _layer(m) == "bnnc.ir" for t in GRAPH.successors(m) if t.startswith("onnx")}
    assert not bad, bad


def test_no_import_cycles() -> None:
    project = GRAPH.subgraph(n for n in GRAPH if n in MODULES)
    cycles = [sorted(c) for c in nx.strongly_connected_components(project) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_the_scan_sees_the_project() -> None:
    """Guards the scan itself: it finds the modules and the edges it must find."""
    assert {"bnnc.ir.core", "bnnc.passes.tile", "bnnc.backends.schedule", "bnnc.frontend.loader", "bnnc.api"} <= set(MODULES)
    assert GRAPH.has_edge("bnnc.passes.tile", "bnnc.ir.analysis")
    assert GRAPH.has_edge("bnnc.cli", "bnnc.api")


def test_every_package_folder_is_installed() -> None:
    """pyproject.toml lists every package folder (a non-editable install leaves out the rest)."""
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert folders == set(setuptools["packages"])
    for package in folders:
        assert (ROOT / setuptools["package-dir"][package] / "__init__.py").is_file(), package
