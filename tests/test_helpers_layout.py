"""Where the shared test helpers live: tests/support/, by topic. conftest.py holds fixtures only, and no
test, helper or benchmark imports a test module (or conftest), so running one test file never runs
another's module code and a helper has one home."""

from __future__ import annotations

import ast

from support.data import REPO

TESTS = REPO / "tests"


def imported_names(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_imports_a_test_module_or_conftest():
    files = [*TESTS.rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]
    for path in files:
        for name in imported_names(path):
            last = name.rsplit(".", 1)[-1]
            assert not (last.startswith("test_") or last == "conftest"), f"{path.relative_to(REPO)} imports {name}"


def test_conftest_holds_fixtures_only():
    tree = ast.parse((TESTS / "conftest.py").read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            decorators = [ast.unparse(d) for d in getattr(node, "decorator_list", [])]
            assert any(d.startswith("pytest.fixture") for d in decorators), f"conftest.py: {node.name} is no fixture"
        else:
            assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)), f"conftest.py line {node.lineno}"
