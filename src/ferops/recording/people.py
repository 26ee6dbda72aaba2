"""People, not tracks: the tracks of a session that were given one name in review are one person.

The tracker (`recording.tracker`) keeps one id per person while she is there; someone who left and came
back later, or whom the detector lost for longer than its memory, gets another id. Naming joins them:
a session's `session.json` holds `names` ({track id: name}), and every summary, timeline and export
groups the tracks by name. The log keeps its track ids and is never rewritten, so renaming and
un-merging (giving a track another name, or none) only change `session.json`.

Names match as typed, case and surrounding space aside ("Mary", " mary " are one person); the person is
shown with the spelling given to her earliest track. A track without a name is a person of its own,
"person <track id>".
"""

from __future__ import annotations

import json
from pathlib import Path

from ferops.core.errors import FerOpsError

MAX_NAME = 100


class NamesError(FerOpsError, ValueError):
    """A names mapping that cannot be used: not a mapping, an unknown track, an empty or too long name."""


def clean_name(name: object, track: str) -> str:
    if not isinstance(name, str):
        raise NamesError(f"the name of track {track} must be text, not {type(name).__name__}")
    name = " ".join(name.split())
    if not name:
        raise NamesError(f"the name of track {track} is empty")
    if len(name) > MAX_NAME:
        raise NamesError(f"the name of track {track} has {len(name)} characters; at most {MAX_NAME}")
    return name


def check_names(names: object, tracks: set[int] | None = None, allow_removal: bool = False) -> dict[str, str | None]:
    """{track id: name} as given (JSON keys are text) -> the same, cleaned; NamesError naming the first
    problem. `tracks`: the ids the session has (None: not checked). With allow_removal, a null name
    means "remove this track's name"."""
    if not isinstance(names, dict):
        raise NamesError("names must be a JSON object mapping a track id to a name, e.g. {\"0\": \"Mary\"}")
    out: dict[str, str | None] = {}
    for key, name in names.items():
        track = str(key).strip()
        if not track.isdecimal():
            raise NamesError(f"{key!r} is not a track id (track ids are whole numbers: 0, 1, ...)")
        if tracks is not None and int(track) not in tracks:
            known = ", ".join(str(t) for t in sorted(tracks)) or "none"
            raise NamesError(f"this session has no track {track} (its tracks: {known})")
        out[str(int(track))] = None if name is None and allow_removal else clean_name(name, track)
    return out


def read_names_file(path: Path) -> object:
    """A --names JSON file -> its {track id: name} as written (check_names checks it), or NamesError
    saying why it cannot be read (the caller names the file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise NamesError(f"cannot be read ({e.strerror})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise NamesError(f"is not JSON ({e})") from None
    if isinstance(data, dict) and isinstance(data.get("names"), dict):  # a session.json given as the file
        data = data["names"]
    return data


def key(name: str) -> str:
    return " ".join(name.split()).casefold()


def unnamed(track: int | str) -> str:
    return f"person {track}"


def people(tracks_in_order: list[int], names: dict[str, str]) -> dict[int, str]:
    """Each track (in order of first appearance) -> the person it belongs to, as shown."""
    shown: dict[str, str] = {}
    out = {}
    for track in tracks_in_order:
        name = names.get(str(track))
        if name:
            out[track] = shown.setdefault(key(name), name)
        else:
            out[track] = unnamed(track)
    return out
