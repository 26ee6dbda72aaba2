"""What a clinic's data rules need: erase one person from every session, and keep sessions only N days.

Erasing a person (her name, matched as `recording.people` matches names) goes through every session of the
library: her tracks' face records leave every frame of the log (rewritten through a temp file and
rename: the frames and the other people's faces stay), her name leaves session.json, and the name is
replaced by "[erased]" wherever else it was typed (the session's name, marker notes). Videos in which she
appears are deleted: the annotated video and an uploaded recording kept in the session's folder (a
recording elsewhere on the disk is not the library's: it is named in the result). A report `ferops
report` wrote into the session's folder is deleted too: it is made again from the log on request.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ferops.apps import markers, sessions
from ferops.recording import people
from ferops.core.io import atomic_path

ERASED = "[erased]"
# session.json's fields that no one types a name into (the session's id, the model): never rewritten
_TECHNICAL = {"id", "started", "state", "source_kind", "model_uri", "model_version", "detector", "app_pid"}


def _mentions(name: str) -> re.Pattern:
    """The name as a word, in any case: "Mary" in "mary_visit.mp4" or "Mary's photo", not "Ann" in "Annual"."""
    words = r"\s+".join(re.escape(w) for w in name.split())
    return re.compile(rf"(?<![^\W\d_]){words}(?![^\W\d_])", re.IGNORECASE)


def _tracks_of(meta: dict, who: str) -> set[int]:
    return {int(t) for t, n in (meta.get("names") or {}).items() if isinstance(n, str) and people.key(n) == who}


def _rewrite_log(path: Path, tracks: set[int]) -> int:
    """The log without the faces of `tracks`; returns how many face records left. A last line cut off
    mid-write (unreadable, perhaps hers) is dropped; other lines are kept as they are."""
    if not path.is_file():
        return 0
    removed = 0
    lines = path.read_bytes().splitlines(keepends=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        for k, line in enumerate(lines):
            try:
                rec = json.loads(line)
                faces = rec["faces"]
            except (ValueError, KeyError, TypeError):
                if k == len(lines) - 1 and not line.endswith(b"\n"):
                    continue
                out.write(line)
                continue
            kept = [f for i, f in enumerate(faces) if not (isinstance(f, dict) and int(f.get("id", i)) in tracks)]
            if len(kept) == len(faces):
                out.write(line)
                continue
            removed += len(faces) - len(kept)
            out.write((json.dumps({**rec, "faces": kept}) + "\n").encode())
    return removed


def erase(root: Path, name: str) -> dict:
    """Removes the person named `name` from every session (see the module's docstring). Returns what was
    done: {"name", "sessions", "face_records", "videos_deleted", "recordings_elsewhere", "renamed"}."""
    who = people.key(name)
    pattern = _mentions(name)
    done = {"name": name, "sessions": [], "face_records": 0, "videos_deleted": [], "recordings_elsewhere": [],
            "renamed": 0}
    for listed in sessions.list_sessions(root):
        folder = root / listed["id"]
        with markers.session_lock(folder):
            if not folder.is_dir():
                continue
            meta = sessions.read_meta(folder)
            tracks = _tracks_of(meta, who)
            changes: dict = {}
            if tracks:
                done["face_records"] += _rewrite_log(folder / sessions.LOG, tracks)
                changes["names"] = {t: n for t, n in meta["names"].items() if int(t) not in tracks}
                for key in ("annotated_video", "recording"):
                    video = meta.get(key)
                    if not video:
                        continue
                    if Path(video).is_absolute():  # a recording the user pointed at: not the library's to delete
                        done["recordings_elsewhere"].append(video)
                    else:
                        (folder / video).unlink(missing_ok=True)
                        done["videos_deleted"].append(f"{meta['id']}/{video}")
                    changes[key] = None  # the review no longer plays a video she is in
            for key, value in meta.items():  # the session's name, its source's file name, ...
                if key not in changes and key not in _TECHNICAL and isinstance(value, str) and pattern.search(value):
                    changes[key] = pattern.sub(ERASED, value)
                    done["renamed"] += 1
            marks = markers.read(folder / markers.FILE) if (folder / markers.FILE).is_file() else []
            if any(pattern.search(m["note"]) for m in marks):
                markers.write(folder / markers.FILE, [{**m, "note": pattern.sub(ERASED, m["note"])} for m in marks])
                done["renamed"] += 1
            for made in [*folder.glob("*_report.html"), *folder.glob("*_summary.json")]:
                if tracks or pattern.search(made.read_text(errors="replace")):
                    made.unlink()
            if changes:
                sessions.update_meta(folder, **changes)
            if tracks or changes:
                done["sessions"].append(meta["id"])
    return done


def preview(root: Path, name: str) -> dict:
    """What erasing `name` would delete, for the confirmation: sessions and videos."""
    who = people.key(name)
    out = {"sessions": [], "videos": [], "recordings_elsewhere": []}
    for meta in sessions.list_sessions(root):
        if _tracks_of(meta, who):
            out["sessions"].append({"id": meta["id"], "name": meta.get("name")})
            for key in ("annotated_video", "recording"):
                video = meta.get(key)
                if video:
                    where = "recordings_elsewhere" if Path(video).is_absolute() else "videos"
                    out[where].append(video if Path(video).is_absolute() else f"{meta['id']}/{video}")
    return out


def expired(root: Path, keep_days: float, now: datetime | None = None) -> list[str]:
    """The sessions started more than `keep_days` days ago (oldest first)."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    old = []
    for meta in sessions.list_sessions(root):
        try:
            started = datetime.fromisoformat(str(meta.get("started")))
        except ValueError:
            continue  # a damaged session.json: listed as damaged, for the user to delete
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if started < cutoff:
            old.append(meta["id"])
    return old[::-1]


def delete_expired(root: Path, keep_days: float, running: set[str] = frozenset()) -> list[str]:
    """Deletes the expired sessions that are not running; returns their ids."""
    gone = []
    for sid in expired(root, keep_days):
        if sid in running:
            continue
        folder = root / sid
        with markers.session_lock(folder):
            try:
                sessions.delete(root, sid)
                gone.append(sid)
            except (sessions.LibraryError, OSError):
                pass  # gone meanwhile, or not deletable now: the next daily pass tries again
    return gone


def retention_note(keep_days: float | None) -> str:
    if keep_days is None:
        return "Sessions are kept until you delete them."
    return f"Sessions are deleted {keep_days:g} days after they were recorded (checked at start and daily)."


DAY_S = 24 * 3600.0


def every_day(job, stop, period_s: float = DAY_S, now: bool = True) -> None:
    """Runs job() (now, unless told) and then every period until `stop` (a threading.Event) is set."""
    if now:
        job()
    while not stop.wait(period_s):
        job()
