"""Markers: what happened in the room, and when (a wedding photo shown, a song played).

A marker is a moment of the recording (`t`, seconds in the log's time), an optional note and an optional
`end` (a prompt that lasted a while). A session's markers live beside its log in `markers.json`, written
whole through a temp file and rename; the frame log is never rewritten for them. `ferops webcam --markers
FILE` writes the same format, and `ferops report --markers FILE` reads it.

Every change to one session's markers goes through `edit`, under that session's lock, so two tabs (or a
tab and a script) editing one session each keep their change, and a session being deleted is not
written to meanwhile.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from ferops.core.io import write_json
from ferops.core.errors import FerOpsError

FILE = "markers.json"
MAX_NOTE = 500
MAX_MARKERS = 1000


class MarkerError(FerOpsError, ValueError):
    """A marker that cannot be kept: a time outside the recording, a note too long, an unknown marker."""


class NoSuchMarker(MarkerError):
    pass


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MarkerError(f"{what} must be a number of seconds, not {value!r}"[:200])
    return round(float(value), 3)


def check(marker: object, duration: float | None = None, start: float = 0.0) -> dict:
    """{t, note, end} as given -> the same, cleaned (no id); MarkerError naming the problem. `start`..`duration`:
    the recording's time span (None: not known, e.g. a session still running, then only t >= start)."""
    if not isinstance(marker, dict):
        raise MarkerError('a marker is a JSON object {"t": seconds, "note": "...", "end": seconds or null}')
    unknown = sorted(set(marker) - {"id", "t", "note", "end"})
    if unknown:
        raise MarkerError(f"unknown marker field {unknown[0]!r}: a marker has t, note and end"[:200])
    if "t" not in marker:
        raise MarkerError("a marker needs its time t, in seconds of the recording")
    t = _seconds(marker["t"], "t")
    last = None if duration is None else round(start + duration, 3)
    if t < start or (last is not None and t > last):
        span = f"{start:g} to {last:g} s" if last is not None else f"from {start:g} s"
        raise MarkerError(f"t = {t:g} s is outside the recording ({span})")
    note = marker.get("note")
    note = "" if note is None else note
    if not isinstance(note, str):
        raise MarkerError(f"note must be text, not {type(note).__name__}")
    note = " ".join(note.split())
    if len(note) > MAX_NOTE:
        raise MarkerError(f"the note has {len(note)} characters; at most {MAX_NOTE}")
    end = marker.get("end")
    if end is not None:
        end = _seconds(end, "end")
        if end <= t:
            raise MarkerError(f"end = {end:g} s must come after t = {t:g} s")
        if last is not None and end > last:
            raise MarkerError(f"end = {end:g} s is after the recording's end ({last:g} s)")
    return {"t": t, "note": note, "end": end}


def read(path: Path) -> list[dict]:
    """The markers of a markers.json (none when it does not exist), in order of time; MarkerError when the
    file cannot be used (the caller names the file)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise MarkerError(f"cannot be read ({e.strerror})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise MarkerError(f"is not JSON ({e})") from None
    items = data.get("markers") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise MarkerError('holds no list of markers: write [{"t": seconds, "note": "...", "end": null}, ...]')
    if len(items) > MAX_MARKERS:
        raise MarkerError(f"holds {len(items)} markers; at most {MAX_MARKERS}")
    out = []
    for k, item in enumerate(items):
        try:
            marker = check(item)
        except MarkerError as e:
            raise MarkerError(f"marker {k + 1}: {e}") from None
        given = item.get("id")
        marker_id = given if isinstance(given, str) and given.isalnum() and len(given) <= 16 else new_id()
        out.append({"id": marker_id, **marker})
    return ordered(out)


def write(path: Path, markers: list[dict]) -> None:
    write_json(path, {"markers": ordered(markers)})


def ordered(markers: list[dict]) -> list[dict]:
    return sorted(markers, key=lambda m: (m["t"], m["id"]))


def new_id() -> str:
    return secrets.token_hex(4)


def label(marker: dict) -> str:
    """How a marker is named on a page: its note, else its time."""
    m, s = divmod(marker["t"], 60)
    return marker["note"] or f"marker at {int(m)}:{s:04.1f}"


_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


@contextmanager
def session_lock(folder: Path):
    """One session's lock: its markers' read-change-write, and its deletion, never interleave."""
    with _locks_guard:
        lock = _locks.setdefault(str(folder.resolve()), threading.RLock())
    with lock:
        yield


def edit(folder: Path, change: Callable[[list[dict]], list[dict]]) -> list[dict]:
    """Reads the session's markers, applies `change`, writes the result (atomically); returns it."""
    with session_lock(folder):
        if not folder.is_dir():
            raise NoSuchMarker("this session no longer exists (deleted meanwhile)")
        markers = read(folder / FILE)
        markers = ordered(change(markers))
        if len(markers) > MAX_MARKERS:
            raise MarkerError(f"a session holds at most {MAX_MARKERS} markers")
        write(folder / FILE, markers)
        return markers


def find(markers: list[dict], marker_id: str) -> dict:
    for m in markers:
        if m["id"] == marker_id:
            return m
    raise NoSuchMarker(f"no marker {marker_id!r} in this session (deleted meanwhile, perhaps in another tab)"[:200])


class Recorder:
    """Markers made during a live run (`ferops webcam --markers FILE`): each one is written at once (the
    whole file, atomically), after the markers the file already held, so a crash keeps every marker made
    and nothing in the file is lost."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            self.markers = read(path)
        except MarkerError as e:
            raise MarkerError(f"--markers {path}: {e}") from None
        if path.is_dir():
            raise MarkerError(f"--markers {path} is a folder")
        if not path.parent.is_dir():
            raise MarkerError(f"--markers {path}: folder {path.parent} does not exist")

    def add(self, t: float, note: str = "") -> dict:
        marker = {"id": new_id(), **check({"t": max(t, 0.0), "note": note[:MAX_NOTE]})}
        with self._lock:
            self.markers = ordered([*self.markers, marker])
            write(self.path, self.markers)
        return marker
