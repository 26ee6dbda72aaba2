"""A throwaway copy of the repository's DVC pipeline on a tiny synthetic CSV, and `dvc` run in it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from support.data import REPO, synthetic_rows, write_csv
from support.processes import clean_env


def make_pipeline_copy(dest: Path, csv_rows: list[str] | None = None, **train_overrides) -> Path:
    """A fresh copy of the repo's pipeline on a tiny synthetic CSV, ready for `dvc repro`."""
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, dest / name)
    for name in ("stages", "src"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (dest / "data" / "raw").mkdir(parents=True)
    write_csv(dest / "data" / "raw" / "fer2013.csv", csv_rows or synthetic_rows(per_class=4))
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["data"]["csv"] = "data/raw/fer2013.csv"
    params["train"].update({"epochs": 1, "batch_size": 16, "patience": 1, "warmup_epochs": 0, **train_overrides})
    params["export"]["min_accuracy"] = 0.0
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=dest, check=True, env=clean_env())
    return dest


def dvc(dest: Path, *args: str, env: dict | None = None, timeout: float = 900):
    return subprocess.run(
        ["dvc", *args], cwd=dest, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )
