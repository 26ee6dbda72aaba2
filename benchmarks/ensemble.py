"""Free ensembles measured: what averaging trained models' probabilities gives, and what it costs.

    .venv/bin/python benchmarks/ensemble.py MODEL.keras MODEL.keras [...]

Each model scores every face as ferops serves it (face + mirror, through EmotionClassifier); every
combination of them averages those probabilities, fits its own temperature on PublicTest and is
scored on PublicTest (validation: the only split a choice may be made on) and PrivateTest (reported
only). Cost: a combination of k models is k times one model's time per face.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

from common import REPO, require_real_csv
from results import Printed, write_results

sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", help="trained models (.keras files, e.g. a registered version's artifact)")
    args = parser.parse_args()
    require_real_csv()
    from common import REAL_CSV

    import keras

    from ferops.data.ingest import ingest
    from ferops.data.split import split_arrays
    from ferops.runtime.calibration import apply_temperature, fit_temperature
    from ferops.training.evaluate import predict_probs, score

    arrays = split_arrays(ingest(REAL_CSV)[0])  # the pipeline's own split: val = PublicTest, test = PrivateTest
    y_val, y_test = arrays["y_val"], arrays["y_test"]
    probs, out = {}, Printed()
    for i, path in enumerate(args.models):
        model = keras.models.load_model(path, compile=False)
        probs[i] = {usage: predict_probs(model, arrays[f"x_{split}"], tta_flip=True)
                    for usage, split in (("PublicTest", "val"), ("PrivateTest", "test"))}
        out(f"model {i}: {path}")
    out(f"{'models':12} {'PublicTest':>10} {'PrivateTest':>11} {'macro-F1':>8} {'ECE':>6} {'T':>6}")
    for k in range(1, len(probs) + 1):
        for combo in itertools.combinations(probs, k):
            val = np.mean([probs[i]["PublicTest"] for i in combo], axis=0)
            test = np.mean([probs[i]["PrivateTest"] for i in combo], axis=0)
            t = fit_temperature(val, y_val)
            v, s = score(y_val, apply_temperature(val, t)), score(y_test, apply_temperature(test, t))
            name = "+".join(map(str, combo))
            row = f"{v['accuracy']:10.4f} {s['accuracy']:11.4f} {s['macro_f1']:8.3f} {s['ece']:6.3f} {t:6.3f}"
            out(f"{name:12} {row}")
    write_results("ensemble", out)


if __name__ == "__main__":
    main()
