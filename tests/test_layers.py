"""The app half is layered like the pipeline half: each package imports only the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ferops"
# What each layer may never import (directly or inside a function): the layers above it, and its siblings.
FORBIDDEN = {
    "core": {"data", "training", "runtime", "registry", "recording", "apps", "scale"},
    "runtime": {"data", "training", "registry", "recording", "apps", "scale"},
    "recording": {"training", "registry", "apps", "scale"},
    "scale": {"apps"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found |= {n.split(".")[1] for n in names if n.startswith("ferops.") and n.count(".") >= 1}
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_only_what_is_below_it(layer):
    wrong = {
        str(path.relative_to(PACKAGE)): sorted(imported_packages(path) & FORBIDDEN[layer])
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_check_sees_an_import_from_above(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ferops.apps import live\n")
    assert imported_packages(module) == {"apps"}
