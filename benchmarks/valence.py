"""Where surprise belongs in valence: the served model's valence on PublicTest (which decides) and
PrivateTest (reported), with surprise counted as positive, negative or neutral.

    .venv/bin/python benchmarks/valence.py [--model models:/fer@production | models/model.keras]

Each face goes through the model as served (flip TTA and the fitted temperature: `load_classifier`),
its seven probabilities are summed into three groups, and the true label is grouped the same way.
Printed per choice: accuracy, ECE, and the share of faces under 50 % (shown "uncertain" by the apps);
the seven emotions' figures for comparison. The choice in core.fer2013.VALENCE_OF is the one with the
best PublicTest accuracy.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from common import REPO, require_real_csv
from results import write_results

sys.path.insert(0, str(REPO / "src"))


def figures(labels: np.ndarray, probs: np.ndarray, grouping: dict[str, str] | None) -> str:
    from ferops.core.fer2013 import EMOTIONS, VALENCES
    from ferops.training.evaluate import calibration

    if grouping is None:
        truth, p = labels, probs
    else:
        groups = np.array([[grouping[e] == v for v in VALENCES] for e in EMOTIONS], np.float64)
        truth = np.array([VALENCES.index(grouping[EMOTIONS[k]]) for k in labels])
        p = probs @ groups
    accuracy = float((p.argmax(axis=1) == truth).mean())
    ece = calibration(truth, p)[0]
    unsure = float((p.max(axis=1) < 0.5).mean())
    return f"{accuracy:.3f} / {ece:.3f} / {unsure:5.1%}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="models:/fer@production")
    args = parser.parse_args()
    csv_path = require_real_csv()
    from ferops.core.fer2013 import VALENCE_OF
    from ferops.core.tracking import use_store
    from ferops.data.ingest import ingest
    from ferops.registry.loading import load_classifier

    if args.model.startswith("models:/"):
        use_store(create=False)
    classifier = load_classifier(args.model)
    table, _ = ingest(csv_path)
    rows = {}
    for usage in ("PublicTest", "PrivateTest"):
        keep = table.usage == usage
        rows[usage] = (table.labels[keep], classifier.probs(table.pixels[keep]).astype(np.float64))
    lines = [f"model {args.model}; accuracy / ECE / under 50 % (shown uncertain)", "",
             f"{'surprise counted as':22} {'PublicTest':>24} {'PrivateTest':>24}"]
    for choice in ("positive", "negative", "neutral"):
        grouping = {**VALENCE_OF, "surprise": choice}
        chosen = " (ferops)" if VALENCE_OF["surprise"] == choice else ""
        lines.append(f"{choice + chosen:22} " + " ".join(f"{figures(*rows[u], grouping):>24}" for u in rows))
    lines.append(f"{'(the 7 emotions)':22} " + " ".join(f"{figures(*rows[u], None):>24}" for u in rows))
    print("\n".join(lines))
    write_results("valence", lines)


if __name__ == "__main__":
    main()
