"""Shared by the benchmark scripts: where the real data is, and a clear skip when it is not."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_CSV = Path(os.environ.get("FER2013_CSV") or REPO.parent / "shared" / "data" / "fer2013.csv.gz")


def require_real_csv() -> Path:
    if not REAL_CSV.is_file():
        print(f"skipped: FER-2013 not found at {REAL_CSV} (set FER2013_CSV)")
        sys.exit(0)
    return REAL_CSV
