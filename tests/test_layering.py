# SPDX-License-Identifier: Apache-2.0
"""The layers import one way: ``cli -> jobs -> adapters, graph -> tracer``.

``cli`` parses, calls one job and renders, so it imports ``jobs`` (and ``tracer`` for types) and
nothing else of the library; ``jobs`` wires chain I/O (``adapters``) and stores (``graph``) to the
pure algorithms (``tracer``); ``adapters`` and ``graph`` know only ``tracer``; ``tracer`` knows only
itself. Test support (``testing``, ``tests``) is never imported by the product. Every import is
read, lazy ones inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"tracer", "adapters", "graph", "jobs", "cli", "testing", "tests"}
ALLOWED = {
    "tracer": {"tracer"},
    "adapters": {"adapters", "tracer"},
    "graph": {"graph", "tracer"},
    "jobs": {"jobs", "adapters", "graph", "tracer"},
    "cli": {"cli", "jobs", "tracer"},
}


def _project_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, top-level package)`` of every import of a project package in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in PROJECT]
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no modules found in {layer}/"
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {package}"
             for path in files for line, package in _project_imports(path) if package not in ALLOWED[layer]]
    assert wrong == []


def test_the_rule_catches_an_import_against_the_layers(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from graph.embedded import EmbeddedStore\n\ndef f():\n    import testing.devnodes\n")
    assert _project_imports(module) == [(1, "graph"), (4, "testing")]
