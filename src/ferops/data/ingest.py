"""CSV -> validated table: parse every FER-2013 row, keep the valid ones, explain the rest.

The parse is vectorised over the whole file's bytes (one pass of numpy per concern) because
a per-row Python loop over 82 million pixel values is what made the original notebook slow.

Accepted: plain or gzipped CSV; LF, CRLF or CR-only line endings; fields optionally quoted as
RFC 4180 writers do (`"3","70 80 ...","Training"`, pandas/Excel); blank lines (skipped).
A pixel value must be a canonical decimal integer 0..255: `-1` is rejected as a negative value,
`0255` or `007` for their leading zero (an exporter that pads numbers is not writing FER-2013's
format, and reading `0255` as 255 would hide that), `256` as outside 0..255. A rejected row's
reason names its first bad value; a row of good values with the wrong count names the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import zlib

import numpy as np
from isal import igzip  # ISA-L inflate: faster than zlib on the FER-2013 CSV (docs/benchmarks.md)
from isal.igzip_lib import IsalError

from ferops.core.errors import FerOpsError
from ferops.data import source
from ferops.core.fer2013 import IMAGE_SIZE, NUM_CLASSES, SPLITS

PIXELS = IMAGE_SIZE * IMAGE_SIZE
REQUIRED = ("emotion", "pixels", "usage")
_DIGIT0, _SPACE, _COMMA, _NL, _CR, _QUOTE = 48, 32, 44, 10, 13, 34
CHUNK_ROWS = 1024  # rows parsed per numpy pass (a test sets it small to cross chunk boundaries)


class IngestError(FerOpsError, ValueError):
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
        raise IngestError(f"FER-2013 CSV not found at {path}: {source.how_to_get(path)}")
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return igzip.decompress(raw)
    except (OSError, EOFError, zlib.error, IsalError, ValueError) as e:  # truncated, corrupt, bad CRC/length
        raise IngestError(f"{path}: not a readable gzip file ({e}); download it again or use the plain .csv") from None


def _unquote(field: bytes) -> bytes:
    """An RFC 4180 quoted field's content (its quotes removed); other fields as they are."""
    field = field.strip()
    return field[1:-1] if len(field) >= 2 and field[0] == _QUOTE and field[-1] == _QUOTE else field


def parse(raw: bytes, source: str = "<csv>") -> tuple[Table, list[Reject]]:
    # Line and field boundaries come from bytes.find/count (C memchr) one line at a time: a few
    # calls per row, against whole-file numpy scans that allocate hundreds of MB.
    first_cr = raw.find(b"\r")
    if first_cr >= 0 and raw.find(b"\n", 0, first_cr + 2) < 0:  # no LF before or right after the first CR
        raw = raw.replace(b"\r", b"\n")  # CR-only line endings (classic Mac, some exporters)
    end = raw.find(b"\n")
    end = len(raw) if end < 0 else end
    columns = _header(raw[:end].rstrip(b"\r"), source)
    ncols = len(columns)
    col_emotion, col_pixels, col_usage = (columns.index(c) for c in REQUIRED)

    rejects: list[Reject] = []
    numbers, labels, usages, lo, hi = [], [], [], [], []
    line, pos, size = 1, end + 1, len(raw)
    while pos < size:
        line += 1
        end = raw.find(b"\n", pos)
        end = size if end < 0 else end
        stop = end - 1 if end > pos and raw[end - 1] == _CR else end
        start, pos = pos, end + 1
        if stop == start:
            continue  # blank lines carry no row
        commas = raw.count(b",", start, stop)
        if commas != ncols - 1:
            rejects.append(Reject(line, f"expected {ncols} fields, got {commas + 1}"))
            continue
        bounds = [start]
        for _ in range(commas):
            bounds.append(raw.find(b",", bounds[-1], stop) + 1)
        bounds.append(stop + 1)
        emo = _unquote(raw[bounds[col_emotion] : bounds[col_emotion + 1] - 1])
        use = _unquote(raw[bounds[col_usage] : bounds[col_usage + 1] - 1]).decode("utf-8", "replace")
        if not emo.isdigit() or int(emo) >= NUM_CLASSES:
            label = emo.decode("utf-8", "replace")
            rejects.append(Reject(line, f"label {label!r} is not an integer in 0..{NUM_CLASSES - 1}"))
        elif use not in SPLITS:
            rejects.append(Reject(line, f"unknown Usage {use!r} (expected one of {', '.join(SPLITS)})"))
        else:
            numbers.append(line)
            labels.append(int(emo))
            usages.append(use)
            a, b = bounds[col_pixels], bounds[col_pixels + 1] - 1
            if b - a >= 2 and raw[a] == _QUOTE and raw[b - 1] == _QUOTE:  # a quoted pixel field
                a, b = a + 1, b - 1
            lo.append(a)
            hi.append(b)

    values, problems = _parse_pixels(np.frombuffer(raw, dtype=np.uint8), np.array(lo, np.int64), np.array(hi, np.int64))
    good = np.array([not p for p in problems], dtype=bool)
    rejects += [Reject(n, p) for n, p in zip(numbers, problems) if p]
    rejects.sort(key=lambda r: r.line)
    table = Table(
        labels=np.array(labels, dtype=np.uint8)[good],
        usage=np.array(usages, dtype=str)[good],
        pixels=values[good].reshape(-1, IMAGE_SIZE, IMAGE_SIZE),
        line=np.array(numbers, dtype=np.int64)[good],
    )
    if len(table) == 0:
        raise IngestError(f"{source}: no valid rows ({len(rejects)} rejected; first: {_first(rejects)})")
    return table, rejects


def _first(rejects: list[Reject]) -> str:
    return f"line {rejects[0].line}: {rejects[0].reason}" if rejects else "file has no data rows"


def _header(line: bytes, source: str) -> list[str]:
    # Kaggle's copy has " pixels"; Usage is sometimes lower-case elsewhere.
    columns = [_unquote(c.encode()).decode().strip().lower() for c in line.decode("utf-8-sig", "replace").split(",")]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise IngestError(
            f"{source}: line 1: header {line.decode('utf-8', 'replace')!r} lacks column(s) "
            f"{', '.join(missing)} (expected emotion,pixels,Usage)"
        )
    return columns


def _parse_pixels(buf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Parse the pixel field [lo[i], hi[i]) of every row from the file's bytes.

    Returns (values, problems): values is (rows, 2304) uint8, meaningful only where problems[i]
    is empty; problems[i] names what is wrong with row i's pixels. Rows go in chunks so the
    temporaries stay a few MB: allocating them for the whole file at once cost more in page
    faults than the parse itself.
    """
    values = np.zeros((len(lo), PIXELS), np.uint8)
    problems: list[str] = []
    chunk = CHUNK_ROWS
    for a in range(0, len(lo), chunk):
        b = min(a + chunk, len(lo))
        part, why = _parse_chunk(buf[lo[a] : hi[b - 1]], lo[a:b] - lo[a], hi[a:b] - lo[a])
        values[a:b] = part
        problems += why
    return values, problems


def _parse_chunk(buf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """_parse_pixels for consecutive rows: buf spans them, lo/hi are relative to it.

    Bytes between the pixel fields (the other columns) are blanked, so every digit run left is a
    pixel value and they come in row order. A value is read at the last digit of its run from
    the digits one and two places before it, with shifted views instead of per-token gathers.
    """
    rows = len(lo)
    text = buf.copy()
    for end, start in zip(hi[:-1].tolist(), lo[1:].tolist()):
        text[end:start] = _SPACE
    digit = text - np.uint8(_DIGIT0)  # uint8 wraps, so digits are exactly the values < 10
    is_digit = digit < 10
    value = np.where(is_digit, digit, 0).astype(np.uint16)

    prev1 = np.zeros_like(is_digit)
    prev1[1:] = is_digit[:-1]
    prev2 = np.zeros_like(is_digit)
    prev2[2:] = is_digit[:-2] & prev1[2:]
    prev3 = np.zeros_like(is_digit)
    prev3[3:] = is_digit[:-3] & prev2[3:]
    # The right-hand sides are evaluated before the in-place add, so both read the bare digits.
    value[1:] += 10 * value[:-1] * prev1[1:]
    value[2:] += 100 * (digit[:-2] * prev2[2:]).astype(np.uint16)
    last = is_digit.copy()  # the last digit of each run; also right for a chunk of only empty fields
    last[:-1] &= ~is_digit[1:]

    ends = np.flatnonzero(last)
    first = np.searchsorted(ends, lo)
    counts = np.searchsorted(ends, hi) - first
    odd = np.flatnonzero(~is_digit & (text != _SPACE))
    # Not canonical: a fourth digit in a row (1000 or more, or padded), or a 0 that starts a run of digits.
    noncanonical = is_digit & prev3
    noncanonical[:-1] |= (text[:-1] == _DIGIT0) & ~prev1[:-1] & is_digit[1:]
    noncanonical = np.flatnonzero(noncanonical)
    has_odd = np.searchsorted(odd, hi) > np.searchsorted(odd, lo)
    values_at_ends = value[ends]
    big = np.flatnonzero(values_at_ends > 255)
    too_big = (np.searchsorted(big, first + counts) > np.searchsorted(big, first)) | (
        np.searchsorted(noncanonical, hi) > np.searchsorted(noncanonical, lo)
    )

    problems = [""] * rows
    out = np.zeros((rows, PIXELS), np.uint8)
    for r in np.flatnonzero(has_odd | (counts != PIXELS) | too_big).tolist():  # only the bad rows
        problems[r] = pixel_problem(buf[lo[r] : hi[r]].tobytes())
    good = np.array([not p for p in problems])
    if good.all() and len(values_at_ends) == rows * PIXELS:
        out[:] = values_at_ends.reshape(rows, PIXELS)
    else:
        for r in np.flatnonzero(good).tolist():
            out[r] = values_at_ends[first[r] : first[r] + PIXELS]
    return out, problems


def pixel_problem(field: bytes) -> str:
    """Why a pixel field is not 2304 canonical integers 0..255 ("" if it is). Run on rejected rows only."""
    tokens = [t for t in field.split(b" ") if t]
    if not tokens:
        return "empty pixels"
    for t in tokens:
        shown = t[:12].decode("utf-8", "replace")
        if not t.isdigit():
            if t[:1] == b"-" and t[1:].isdigit():
                return f"negative pixel value {shown!r}"
            return f"pixels are not space-separated integers (found {shown!r})"
        if len(t) > 1 and t[:1] == b"0":
            return f"pixel value {shown!r} has a leading zero (not a canonical integer)"
        if int(t) > 255:
            return f"pixel value {shown} outside 0..255"
    return f"expected {PIXELS} pixel values, got {len(tokens)}" if len(tokens) != PIXELS else ""


def ingest(path: Path) -> tuple[Table, list[Reject]]:
    return parse(read_bytes(path), source=str(path))


def counts(table: Table) -> dict[str, dict[str, int]]:
    """Rows per Usage x label, plus totals: the shape of FER-2013's published count table."""
    from ferops.core.fer2013 import EMOTIONS

    out: dict[str, dict[str, int]] = {}
    for usage in SPLITS:
        sel = table.labels[table.usage == usage]
        per = np.bincount(sel, minlength=NUM_CLASSES)
        out[usage] = {name: int(c) for name, c in zip(EMOTIONS, per)} | {"total": int(len(sel))}
    out["total"] = {"rows": len(table)}
    return out
