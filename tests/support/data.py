"""The repository, the real FER-2013 file (when there is one) and synthetic FER-2013-shaped CSVs."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from ferops.core.fer2013 import SPLITS

REPO = Path(__file__).resolve().parents[2]
REAL_CSV = Path(os.environ.get("FER2013_CSV") or REPO.parent / "shared" / "data" / "fer2013.csv.gz")
needs_real_data = pytest.mark.skipif(
    not REAL_CSV.is_file(), reason=f"FER-2013 not found at {REAL_CSV} (set FER2013_CSV to run real-data tests)"
)


def synthetic_rows(per_class: int = 3, seed: int = 0, learnable: bool = True) -> list[str]:
    """CSV lines 'emotion,pixels,Usage' for every split and label.

    With learnable=True each label gets its own brightness band so a tiny model can tell them apart.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for usage in SPLITS:
        for label in range(7):
            for _ in range(per_class):
                if learnable:
                    pix = rng.integers(label * 36, label * 36 + 36, size=2304)
                else:
                    pix = rng.integers(0, 256, size=2304)
                rows.append(f"{label},{' '.join(map(str, pix))},{usage}")
    return rows


def write_csv(path: Path, rows: list[str], header: str = "emotion,pixels,Usage", gz: bool = False) -> Path:
    text = "\n".join([header, *rows]) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def real_faces(n: int, usage: str = "PrivateTest") -> tuple[np.ndarray, np.ndarray]:
    """The first n faces (uint8 48x48) and labels of one split of the real FER-2013 file."""
    from ferops.data.ingest import ingest

    table, _ = ingest(REAL_CSV)
    sel = np.flatnonzero(table.usage == usage)[:n]
    return table.pixels[sel], table.labels[sel]
