"""Ingest speed: ferops's vectorised parse vs the seed article's pandas `iterrows` loop, same file, one run.

.venv/bin/python benchmarks/ingest_speed.py      # target: ratio <= 0.25
"""

import time

import numpy as np
import pandas as pd

from common import require_real_csv
from ferops.ingest import ingest


def article_loop(path):
    """The seed article's parse: read_csv, then a Python loop over rows splitting the pixel strings."""
    data = pd.read_csv(path)
    images, labels, usage = [], [], []
    for _, row in data.iterrows():
        pixels = np.asarray(row["pixels"].split(" "), dtype=np.uint8).reshape(48, 48)
        images.append(pixels)
        labels.append(row["emotion"])
        usage.append(row["Usage"])
    return np.stack(images), np.asarray(labels), np.asarray(usage)


def main() -> None:
    path = require_real_csv()
    t0 = time.perf_counter()
    table, rejects = ingest(path)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    images, labels, _ = article_loop(path)
    theirs = time.perf_counter() - t0
    assert np.array_equal(images, table.pixels) and np.array_equal(labels, table.labels), "same result"
    print(f"rows: {len(table)} valid, {len(rejects)} rejected")
    print(f"article iterrows loop: {theirs:6.2f} s")
    print(f"ferops ingest:         {ours:6.2f} s  (validates every row too)")
    ratio = ours / theirs
    print(f"ratio ferops/article:  {ratio:6.3f}  (target <= 0.25) -> {'PASS' if ratio <= 0.25 else 'FAIL'}")


if __name__ == "__main__":
    main()
