"""The fast ingest parser against a plain split()-based reference, on random valid and invalid rows.

The reference reads the format's rules as written (see ferops.data.ingest's docstring), one row at a
time; the parser under test does the same with numpy over chunks of rows. CHUNK_ROWS is made small so
rows of every kind land on chunk boundaries.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from ferops.core.fer2013 import SPLITS
from ferops.data import ingest

PIXELS = 2304
BAD_VALUES = ["256", "-1", "-0", "0255", "007", "00", "1000", "99999", "a", "7.5", "1e3", "+5", "\t", "ï", '"']
BAD_LABELS = ["7", "-1", "x", "", "3.0", "10"]


def unquote(field: str) -> str:
    field = field.strip()
    return field[1:-1] if len(field) >= 2 and field[0] == field[-1] == '"' else field


def reference_pixels(field: str) -> tuple[str, list[int] | None]:
    if len(field) >= 2 and field[0] == field[-1] == '"':
        field = field[1:-1]
    tokens = [t for t in field.split(" ") if t]
    if not tokens:
        return "empty pixels", None
    for t in tokens:
        if re.fullmatch(r"-[0-9]+", t):
            return f"negative pixel value {t[:12]!r}", None
        if not re.fullmatch(r"[0-9]+", t):
            return f"pixels are not space-separated integers (found {t[:12]!r})", None
        if len(t) > 1 and t.startswith("0"):
            return f"pixel value {t[:12]!r} has a leading zero (not a canonical integer)", None
        if int(t) > 255:
            return f"pixel value {t[:12]} outside 0..255", None
    if len(tokens) != PIXELS:
        return f"expected {PIXELS} pixel values, got {len(tokens)}", None
    return "", [int(t) for t in tokens]


def reference(text: str):
    lines = text.replace("\r\n", "\n").split("\n")
    columns = [unquote(c).lower() for c in lines[0].split(",")]
    ce, cp, cu = (columns.index(c) for c in ("emotion", "pixels", "usage"))
    valid, rejects = [], []
    for number, line in enumerate(lines[1:], start=2):
        if line == "":
            continue
        fields = line.split(",")
        if len(fields) != len(columns):
            rejects.append((number, f"expected {len(columns)} fields, got {len(fields)}"))
            continue
        label, usage = unquote(fields[ce]), unquote(fields[cu])
        if not (label.isascii() and label.isdigit()) or int(label) > 6:
            rejects.append((number, f"label {label!r} is not an integer in 0..6"))
        elif usage not in SPLITS:
            rejects.append((number, f"unknown Usage {usage!r} (expected one of {', '.join(SPLITS)})"))
        else:
            why, values = reference_pixels(fields[cp])
            if why:
                rejects.append((number, why))
            else:
                valid.append((number, int(label), usage, values))
    return valid, rejects


def random_row(rng: np.random.Generator) -> str:
    label, usage = str(rng.integers(0, 7)), str(rng.choice(list(SPLITS)))
    values = [str(v) for v in rng.integers(0, 256, PIXELS)]
    sep = "  " if rng.random() < 0.1 else " "  # repeated spaces are still one separator
    kind = rng.random()
    if kind < 0.45:
        pass  # valid
    elif kind < 0.65:
        for _ in range(rng.integers(1, 3)):
            values[rng.integers(0, PIXELS)] = str(rng.choice(BAD_VALUES))
    elif kind < 0.70:
        values = values[: rng.integers(0, PIXELS)]  # too few (possibly none)
    elif kind < 0.73:
        values += ["1"]
    elif kind < 0.78:
        label = str(rng.choice(BAD_LABELS))
    elif kind < 0.81:
        usage = "Validation"
    elif kind < 0.84:
        return f"{label},{sep.join(values)},{usage},extra"
    pixels = sep.join(values)
    if rng.random() < 0.1:
        pixels = f" {pixels} "
    fields = [label, pixels, usage]
    if rng.random() < 0.2:
        fields = [f'"{f}"' for f in fields]  # RFC 4180 quoting, as pandas/Excel write it
    return ",".join(fields)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_parser_agrees_with_the_split_reference(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(ingest, "CHUNK_ROWS", int(rng.choice([1, 2, 3, 7])))
    lines = ["emotion,pixels,Usage"]
    for _ in range(160):
        lines.append(random_row(rng))
        if rng.random() < 0.05:
            lines.append("")  # blank lines are skipped
    text = "".join(line + ("\r\n" if rng.random() < 0.3 else "\n") for line in lines)

    table, rejects = ingest.parse(text.encode())
    valid, expected_rejects = reference(text)

    assert [(r.line, r.reason) for r in rejects] == expected_rejects
    assert table.line.tolist() == [v[0] for v in valid]
    assert table.labels.tolist() == [v[1] for v in valid]
    assert table.usage.tolist() == [v[2] for v in valid]
    assert np.array_equal(table.pixels.reshape(len(valid), PIXELS), np.array([v[3] for v in valid], np.uint8))
    assert len(valid) > 40 and len(expected_rejects) > 40, "both kinds well represented"
