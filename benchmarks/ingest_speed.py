"""Ingest speed: ferops's vectorised parse vs the seed article's pandas `iterrows` loop, same file, one run.

.venv/bin/python benchmarks/ingest_speed.py      # target: ratio <= 0.25
"""

import time

import numpy as np
import pandas as pd

from common import require_real_csv
from results import Printed, write_results
from ferops.data.ingest import ingest


def article_loop(path):
    """The seed article's parse: read_csv, then iterrows, splitting each pixel string into float32."""
    data = pd.read_csv(path)
    x_train, y_train, x_val, y_val, x_test, y_test = [], [], [], [], [], []
    for index, row in data.iterrows():
        val = row["pixels"].split(" ")
        try:
            if "Training" in row["Usage"]:
                x_train.append(np.array(val, "float32"))
                y_train.append(row["emotion"])
            elif "PublicTest" in row["Usage"]:
                x_val.append(np.array(val, "float32"))
                y_val.append(row["emotion"])
            elif "PrivateTest" in row["Usage"]:
                x_test.append(np.array(val, "float32"))
                y_test.append(row["emotion"])
        except Exception:
            print(f"error at index {index}")
    images = np.array(x_train + x_val + x_test, "float32").reshape(-1, 48, 48)
    return images, np.array(y_train + y_val + y_test)


def main() -> None:
    path = require_real_csv()
    t0 = time.perf_counter()
    table, rejects = ingest(path)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    images, labels = article_loop(path)
    theirs = time.perf_counter() - t0
    # The file is ordered by Usage, so both list rows in the same order.
    assert np.array_equal(images, table.pixels) and np.array_equal(labels, table.labels), "same result"
    out = Printed()
    out(f"rows: {len(table)} valid, {len(rejects)} rejected")
    out(f"article iterrows loop: {theirs:6.2f} s")
    out(f"ferops ingest:         {ours:6.2f} s  (validates every row too)")
    ratio = ours / theirs
    out(f"ratio ferops/article:  {ratio:6.3f}  (target <= 0.25) -> {'PASS' if ratio <= 0.25 else 'FAIL'}")
    write_results("ingest_speed", out)


if __name__ == "__main__":
    main()
