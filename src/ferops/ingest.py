"""CSV -> validated table: parse every FER-2013 row, keep the valid ones, explain the rest.

The parse is vectorised over the whole file's bytes (one pass of numpy per concern) because
a per-row Python loop over 82 million pixel values is what made the original notebook slow.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferops.labels import IMAGE_SIZE, NUM_CLASSES, SPLITS

PIXELS = IMAGE_SIZE * IMAGE_SIZE
REQUIRED = ("emotion", "pixels", "usage")
_DIGIT0, _SPACE, _COMMA, _NL, _CR = 48, 32, 44, 10, 13


class IngestError(ValueError):
    """The file as a whole cannot be used (missing, no header, no valid rows)."""


@dataclass
class Table:
    """Valid rows, in file order. `line` is the 1-based line number in the CSV."""

    labels: np.ndarray  # (N,) uint8 in 0..6
    usage: np.ndarray  # (N,) str: Training / PublicTest / PrivateTest
    pixels: np.ndarray  # (N, 48, 48) uint8
    line: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Reject:
    line: int
    reason: str


def read_bytes(path: Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise IngestError(
            f"FER-2013 CSV not found at {path}: download fer2013.csv from Kaggle "
            "(https://www.kaggle.com/datasets/msambare/fer2013 or the original challenge page) "
            "and put it there, or point FER2013_CSV at it"
        )
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def parse(raw: bytes, source: str = "<csv>") -> tuple[Table, list[Reject]]:
    buf = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(buf == _NL)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    # Drop the CR of CRLF files from each line's end.
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == _CR)
    ends = ends - has_cr

    columns = _header(raw[starts[0] : ends[0]], source)
    ncols = len(columns)
    col_emotion, col_pixels, col_usage = (columns.index(c) for c in REQUIRED)

    starts, ends, numbers = starts[1:], ends[1:], np.arange(2, len(starts) + 1)
    nonblank = ends > starts
    # A file ending in newline has one empty last "line"; blank lines carry no row.
    starts, ends, numbers = starts[nonblank], ends[nonblank], numbers[nonblank]

    commas = np.flatnonzero(buf == _COMMA)
    first_comma = np.searchsorted(commas, starts)
    n_commas = np.searchsorted(commas, ends) - first_comma
    rejects: list[Reject] = [
        Reject(int(n), f"expected {ncols} fields, got {int(c) + 1}")
        for n, c in zip(numbers[n_commas != ncols - 1], n_commas[n_commas != ncols - 1])
    ]
    ok = n_commas == ncols - 1
    starts, ends, numbers, first_comma = starts[ok], ends[ok], numbers[ok], first_comma[ok]
    # field k of a row spans [bounds[k], bounds[k+1] - 1)
    bounds = np.column_stack([starts] + [commas[first_comma + k] + 1 for k in range(ncols - 1)] + [ends + 1])
    pix_lo, pix_hi = bounds[:, col_pixels], bounds[:, col_pixels + 1] - 1

    values, pixel_problem = _parse_pixels(buf, pix_lo, pix_hi)

    keep_labels, keep_usage, keep_rows = [], [], []
    for i, n in enumerate(numbers.tolist()):
        emo = raw[bounds[i, col_emotion] : bounds[i, col_emotion + 1] - 1].strip()
        use = raw[bounds[i, col_usage] : bounds[i, col_usage + 1] - 1].strip().decode("utf-8", "replace")
        if not emo.isdigit() or int(emo) >= NUM_CLASSES:
            rejects.append(
                Reject(n, f"label {emo.decode('utf-8', 'replace')!r} is not an integer in 0..{NUM_CLASSES - 1}")
            )
        elif use not in SPLITS:
            rejects.append(Reject(n, f"unknown Usage {use!r} (expected one of {', '.join(SPLITS)})"))
        elif pixel_problem[i]:
            rejects.append(Reject(n, pixel_problem[i]))
        else:
            keep_labels.append(int(emo))
            keep_usage.append(use)
            keep_rows.append(i)

    rejects.sort(key=lambda r: r.line)
    rows = np.asarray(keep_rows, dtype=np.int64)
    table = Table(
        labels=np.asarray(keep_labels, dtype=np.uint8),
        usage=np.asarray(keep_usage, dtype=str),
        pixels=values[rows].reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        if len(rows)
        else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
        line=numbers[rows],
    )
    if len(table) == 0:
        raise IngestError(f"{source}: no valid rows ({len(rejects)} rejected; first: {_first(rejects)})")
    return table, rejects


def _first(rejects: list[Reject]) -> str:
    return f"line {rejects[0].line}: {rejects[0].reason}" if rejects else "file has no data rows"


def _header(line: bytes, source: str) -> list[str]:
    # Kaggle's copy has " pixels"; Usage is sometimes lower-case elsewhere.
    columns = [c.strip().lower() for c in line.decode("utf-8-sig", "replace").split(",")]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise IngestError(
            f"{source}: line 1: header {line.decode('utf-8', 'replace')!r} lacks column(s) "
            f"{', '.join(missing)} (expected emotion,pixels,Usage)"
        )
    return columns


def _parse_pixels(buf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Parse the pixel field [lo[i], hi[i]) of every row, in place in the file's bytes.

    Returns (values, problems): values is (rows, 2304) uint8, meaningful only where problems[i]
    is empty; problems[i] names what is wrong with row i's pixels. Fields are delimited by
    commas or line ends, so a run of digits never crosses from one field into another, and
    every position array below is sorted, so rows find their tokens by binary search.
    """
    rows = len(lo)
    problems = [""] * rows
    if rows == 0:
        return np.zeros((0, PIXELS), np.uint8), problems

    digit = (buf - _DIGIT0) < 10  # uint8 wraps, so this is 0..9 only
    odd = np.flatnonzero(~digit & (buf != _SPACE))
    has_odd = np.searchsorted(odd, hi) > np.searchsorted(odd, lo)

    edge = np.diff(digit.view(np.int8), prepend=0, append=0)
    tok_start = np.flatnonzero(edge == 1)
    tok_end = np.flatnonzero(edge == -1)
    first = np.searchsorted(tok_start, lo)
    counts = np.searchsorted(tok_start, hi) - first

    shaped = ~has_odd & (counts == PIXELS)
    tok = first[shaped, None] + np.arange(PIXELS)  # (shaped rows, 2304) token indices
    end = tok_end[tok]
    length = end - tok_start[tok]
    value = buf[end - 1].astype(np.int16) - _DIGIT0
    for k, scale in ((2, 10), (3, 100)):
        value += np.where(length >= k, scale * (buf[end - k].astype(np.int16) - _DIGIT0), 0)
    in_range = ((length <= 3) & (value <= 255)).all(axis=1)

    for r in np.flatnonzero(has_odd).tolist():
        problems[r] = "pixels are not space-separated integers"
    for r in np.flatnonzero(~has_odd & (counts != PIXELS)).tolist():
        problems[r] = "empty pixels" if counts[r] == 0 else f"expected {PIXELS} pixel values, got {counts[r]}"
    for r in np.flatnonzero(shaped)[~in_range].tolist():
        problems[r] = "pixel values outside 0..255"

    values = np.zeros((rows, PIXELS), np.uint8)
    values[shaped] = value.astype(np.uint8)
    return values, problems


def ingest(path: Path) -> tuple[Table, list[Reject]]:
    return parse(read_bytes(path), source=str(path))


def counts(table: Table) -> dict[str, dict[str, int]]:
    """Rows per Usage x label, plus totals: the shape of FER-2013's published count table."""
    from ferops.labels import EMOTIONS

    out: dict[str, dict[str, int]] = {}
    for usage in SPLITS:
        sel = table.labels[table.usage == usage]
        per = np.bincount(sel, minlength=NUM_CLASSES)
        out[usage] = {name: int(c) for name, c in zip(EMOTIONS, per)} | {"total": int(len(sel))}
    out["total"] = {"rows": len(table)}
    return out
