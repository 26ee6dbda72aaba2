"""FER-2013 as an MLflow input dataset: the runs table shows what each run was trained on."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset

from ferops.core.fer2013 import SPLITS

NAME = "FER-2013"
# MLflow stores at most 36 characters of digest; the full sha256 is in the profile.
DIGEST_CHARS = 32


class Fer2013Dataset(MetaDataset):
    """Metadata only (no pixels leave the machine): name, digest = the arrays' sha256, split sizes."""

    def __init__(self, path: Path | str, sha256: str, rows: dict[str, int]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "can be interpreted in multiple ways": all local
            source = resolve_dataset_source(str(Path(path).resolve()))
        self._profile = {"sha256": sha256, "rows": rows}
        super().__init__(source=source, name=NAME, digest=sha256[:DIGEST_CHARS])

    @property
    def profile(self) -> dict:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        return super().to_dict() | {"profile": json.dumps(self._profile)}


def fer2013(path: Path | str, sha256: str, arrays: dict[str, np.ndarray]) -> Fer2013Dataset:
    """The dataset entry for split arrays as `ferops.data.split` writes them (y_train, y_val, y_test)."""
    rows = {usage: len(arrays[f"y_{split}"]) for usage, split in SPLITS.items() if f"y_{split}" in arrays}
    return Fer2013Dataset(path, sha256, rows)
