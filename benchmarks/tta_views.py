"""Test-time views side by side: what averaging more views of each face gives, and what it costs.

    .venv/bin/python benchmarks/tta_views.py [--model models/model.keras]

One trained model, its softmax averaged over several view sets of each face: the face alone, with its
mirror image (what ferops serves), plus 2-pixel shifts, plus a 90% centre zoom. Printed per set:
accuracy on PublicTest (validation: the only split a choice may be made on) and PrivateTest (reported
only), and the model's milliseconds per face through the traced graph, batch 64, on this machine.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from common import REPO, require_real_csv
from results import Printed, write_results

sys.path.insert(0, str(REPO / "src"))


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)), mode="edge")
    return padded[:, 2 + dy : 2 + dy + x.shape[1], 2 + dx : 2 + dx + x.shape[2]]


def zoomed(x: np.ndarray, share: float = 0.9) -> np.ndarray:
    import cv2

    side = x.shape[1]
    m = round(side * (1 - share) / 2)
    return np.stack([cv2.resize(img[m : side - m, m : side - m], (side, side)) for img in x])


def mirrored(view):
    return lambda x: view(x)[:, :, ::-1]


BASE = {"face": lambda x: x, "shift up": lambda x: shifted(x, -2, 0), "shift down": lambda x: shifted(x, 2, 0),
        "shift left": lambda x: shifted(x, 0, -2), "shift right": lambda x: shifted(x, 0, 2), "zoom 0.9": zoomed}
VIEWS = {**BASE, **{f"{k} mirrored": mirrored(v) for k, v in BASE.items()}}
SETS = {
    "face only": ["face"],
    "face + mirror (served)": ["face", "face mirrored"],
    "+ zoom 0.9 (4 views)": ["face", "face mirrored", "zoom 0.9", "zoom 0.9 mirrored"],
    "+ 4 shifts (10 views)": ["face", "face mirrored"] + [f"shift {d}{m}" for d in ("up", "down", "left", "right")
                                                        for m in ("", " mirrored")],
    "all 12 views": list(VIEWS),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(REPO / "models" / "model.keras"))
    args = parser.parse_args()
    require_real_csv()
    from common import REAL_CSV

    import keras
    import tensorflow as tf

    from ferops.data.ingest import ingest

    table, _ = ingest(REAL_CSV)
    model = keras.models.load_model(args.model, compile=False)
    infer = tf.function(lambda x: model(x, training=False))

    def probs(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)[..., None]
        return np.concatenate([infer(x[i : i + 512]).numpy() for i in range(0, len(x), 512)])

    splits = {}
    for usage in ("PublicTest", "PrivateTest"):
        keep = table.usage == usage
        x, y = table.pixels[keep], table.labels[keep]
        splits[usage] = ({name: probs(view(x)) for name, view in VIEWS.items()}, y)
    batch = np.random.default_rng(0).integers(0, 256, (64, 48, 48, 1)).astype(np.float32)
    infer(batch)
    start, n = time.perf_counter(), 50
    for _ in range(n):
        infer(batch).numpy()
    ms_per_view = (time.perf_counter() - start) / n / 64 * 1000
    out = Printed()
    out(f"model: {args.model}; {ms_per_view:.2f} ms per view of a face (batch 64)")
    out(f"{'views':26} {'PublicTest':>10} {'PrivateTest':>11} {'ms/face':>8}")
    for name, views in SETS.items():
        row = []
        for usage in ("PublicTest", "PrivateTest"):
            p, y = splits[usage]
            row.append(float((np.mean([p[v] for v in views], axis=0).argmax(axis=1) == y).mean()))
        out(f"{name:26} {row[0]:10.4f} {row[1]:11.4f} {ms_per_view * len(views):8.2f}")
    write_results("tta_views", out)


if __name__ == "__main__":
    main()
