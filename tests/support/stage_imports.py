"""The ferops files a script runs: its `ferops` imports, walked transitively with `ast`.

Every `import ferops.x` and `from ferops.x import y` anywhere in a module counts (inside functions too:
a lazy import runs when its function does), and importing `ferops.a.b` runs `ferops/__init__.py` and
`ferops/a/__init__.py` first, so those are reached as well. Nothing is imported to find them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "ferops"


def _module_file(src: Path, name: str) -> Path | None:
    """The file of module `name` under src/ (a module or a package's __init__.py), or None."""
    base = src.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _package_of(src: Path, path: Path) -> str:
    """The dotted package that holds `path` (for resolving relative imports)."""
    parts = path.resolve().relative_to(src.resolve()).with_suffix("").parts
    return ".".join(parts if path.name == "__init__.py" else parts[:-1])


def imported_modules(path: Path, src: Path) -> set[str]:
    """The `ferops` module names `path` imports anywhere in it, with the packages each import runs."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    inside = path.resolve().is_relative_to(src.resolve())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: only meaningful inside the package
                if not inside:
                    continue
                package = _package_of(src, path).split(".")
                package = package[: len(package) - node.level + 1]
                module = ".".join([*package, module] if module else package)
            names.add(module)
            # `from ferops.core import config` imports the module ferops.core.config
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    found = set()
    for name in names:
        if name != PACKAGE and not name.startswith(PACKAGE + "."):
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # the packages above it run first
            prefix = ".".join(parts[:i])
            if _module_file(src, prefix) is not None:
                found.add(prefix)
    return found


def files_run(roots: list[Path], src: Path) -> set[Path]:
    """The roots and every ferops file reached from them through imports, transitively."""
    seen: set[Path] = set()
    todo = [root.resolve() for root in roots]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path, src):
            todo.append(_module_file(src, name).resolve())
    return seen
