"""The one place that finds the project's executables (dvc, mlflow, ferops) without an activated venv.

Console scripts live beside the interpreter that runs ferops (`.venv/bin/`), which is not on PATH
when nothing is activated; subprocesses that spawn further tools by name (mlflow models serve spawns
uvicorn) need that folder first on their PATH too.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def bin_dir() -> Path:
    return Path(sys.executable).parent


def executable(name: str) -> str:
    """`name` from this interpreter's bin/ (the project's venv), else from PATH."""
    beside = bin_dir() / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found beside {sys.executable} nor on PATH; run `make install`")
    return found


def env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """`base` (default: this process's environment) with this interpreter's bin/ first on PATH."""
    out = dict(os.environ if base is None else base)
    out["PATH"] = os.pathsep.join([str(bin_dir()), out.get("PATH", "")])
    out.update(extra)
    return out
