"""The session library: one folder per session under the sessions folder.

    <sessions>/<id>/session.json    name, source, started, duration, model URI and version, detector,
                                     state, the names given to tracks in review ({track id: name}: tracks
                                     given one name are one person), small, rewritten atomically
    <sessions>/<id>/session.jsonl   one JSON line per frame: the emotions, no images
    <sessions>/<id>/markers.json    the moments marked (time, note, optional end), when there are any
    <sessions>/<id>/recording.*     only for an uploaded recording (the review plays it)
    <sessions>/<id>/annotated.webm  only when the user asked to save the annotated video

Nothing else is stored: no face images, no video unless asked.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

from ferops.core.errors import FerOpsError
from ferops.core.fer2013 import EMOTIONS, VALENCES
from ferops.core.io import write_json
from ferops.recording import people
from ferops.recording.summary import UNCERTAIN_BELOW, face_valence, shown_as

# The default library: in the user's home, not in a checkout (sessions outlive clones). Kept here, not in
# core/config.py, because every pipeline stage depends on core/: a change there would retrain the model.
DEFAULT_ROOT = Path.home() / "ferops-sessions"
META, LOG = "session.json", "session.jsonl"
ANNOTATED = "annotated.webm"  # VP8 in WebM: plays in every browser, so the review can show it
_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$")


class LibraryError(FerOpsError, RuntimeError):
    """A session that does not exist, or a sessions folder that cannot be written."""


def new_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def session_dir(root: Path, session_id: str) -> Path:
    """The folder of an existing session; the id is checked, so no path can escape the library."""
    folder = root / session_id
    if not _ID.match(session_id) or not (folder / META).is_file():
        raise LibraryError(f"no session {session_id!r} in {root}")
    return folder


def create(root: Path, meta: dict) -> Path:
    """A new session folder with its metadata; nothing is left behind if the folder cannot be written."""
    folder = root / meta["id"]
    try:
        root.mkdir(parents=True, exist_ok=True)
        folder.mkdir()
        write_json(folder / META, meta)
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise LibraryError(f"cannot write to the sessions folder {root}: {e.strerror or e}") from None
    return folder


def read_meta(folder: Path) -> dict:
    return json.loads((folder / META).read_text())


def update_meta(folder: Path, **changes) -> dict:
    meta = {**read_meta(folder), **changes}
    write_json(folder / META, meta)
    return meta


def list_sessions(root: Path) -> list[dict]:
    """Every session's metadata, newest first; a folder with unreadable metadata is listed as damaged, and
    one whose metadata names another id (copied or edited by hand: not this folder's) is left out."""
    out = []
    if not root.is_dir():
        return out
    for folder in root.iterdir():
        if not _ID.match(folder.name) or not (folder / META).is_file():
            continue
        try:
            meta = read_meta(folder)
        except (OSError, ValueError):
            meta = {"id": folder.name, "name": folder.name, "state": "damaged (unreadable session.json)"}
        if isinstance(meta, dict) and meta.get("id") == folder.name:
            out.append(meta)
    return sorted(out, key=lambda m: str(m.get("started", "")), reverse=True)


def recover(root: Path) -> list[str]:
    """After a crash (the app killed, a power cut): the sessions still marked running by an app that is
    gone become "interrupted", with their frames and duration counted from the log (a last line cut
    mid-write is removed), and the half-written files are deleted (the annotated video's partial file,
    hidden uploads). Sessions and uploads of an app still running on this folder are left alone.
    Returns the ids recovered."""
    if not root.is_dir():
        return []
    for part in root.glob(".upload-*"):
        if not _alive(part.name.split("-")[1]):
            part.unlink(missing_ok=True)
    done = []
    for folder in root.iterdir():
        if not _ID.match(folder.name) or not (folder / META).is_file():
            continue
        try:
            meta = read_meta(folder)
            if meta.get("state") != "running" or _alive(meta.get("app_pid")):
                continue
            frames, times = 0, []
            if (folder / LOG).is_file():
                data = (folder / LOG).read_bytes()
                complete = data[: data.rfind(b"\n") + 1]
                if len(complete) < len(data):  # the record being written when it died
                    with open(folder / LOG, "r+b") as f:
                        f.truncate(len(complete))
                for line in complete.splitlines():
                    try:
                        times.append(float(json.loads(line)["t"]))
                        frames += 1
                    except (ValueError, KeyError, TypeError):
                        pass  # a damaged line: the review names it
            for part in folder.glob(".*.partial.*"):
                part.unlink(missing_ok=True)
            update_meta(folder, state="interrupted", frames=frames,
                        duration_s=round(times[-1] - times[0], 3) if times else 0.0,
                        error="interrupted: the app stopped while this session ran (killed or crashed); "
                              f"the log holds its first {frames} frames",
                        annotated_video=ANNOTATED if (folder / ANNOTATED).is_file() else None)
            done.append(folder.name)
        except (OSError, ValueError):
            continue  # unreadable: listed as damaged
    return done


def _alive(pid) -> bool:
    """Whether an app process with this pid (as recorded) still runs here."""
    import os

    try:
        pid = int(pid)
        if pid == os.getpid():
            return False
        os.kill(pid, 0)
    except (TypeError, ValueError, ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def delete(root: Path, session_id: str) -> None:
    shutil.rmtree(session_dir(root, session_id))


def responses_csv(summary: dict) -> str:
    """One row per marker and person: the windows before and after, their valence shares and the change."""
    buf = io.StringIO()
    w = csv.writer(buf)
    header = ["marker", "t", "end", "note", "person", "enough_data", "seconds_before", "seconds_after",
              *(f"{v}_before" for v in VALENCES), *(f"{v}_after" for v in VALENCES),
              *(f"{v}_change" for v in VALENCES)]
    w.writerow(header)
    for m in summary.get("markers") or []:
        for person, r in m["people"].items():
            b, a = r["before"]["valence_share"], r["after"]["valence_share"]
            w.writerow([spreadsheet_safe(c) for c in (
                m["id"], m["t"], "" if m.get("end") is None else m["end"], m["note"], person, r["enough"],
                r["before"]["seconds"], r["after"]["seconds"], *(b[v] for v in VALENCES), *(a[v] for v in VALENCES),
                *((r["change"][v] for v in VALENCES) if r["enough"] else [""] * len(VALENCES)),
            )])
    return buf.getvalue()


def spreadsheet_safe(cell: object) -> object:
    """Text a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def with_people(records: list[dict], who: dict[str, str]) -> list[dict]:
    """The log's records with each face's person (who: {track id: person}) beside its track id."""
    return [
        {**rec, "faces": [{**f, "person": who.get(str(f.get("id", k)), "")} for k, f in enumerate(rec["faces"])]}
        for rec in records
    ]


def _marked_frames(records: list[dict], markers: list[dict]) -> dict[int, str]:
    """Each marker on the first frame at or after its time (the last frame if none): index -> notes."""
    times = [float(r["t"]) for r in records]
    out: dict[int, list[str]] = {}
    for m in markers:
        k = next((i for i, t in enumerate(times) if t >= m["t"]), len(times) - 1)
        out.setdefault(k, []).append(m.get("label") or m.get("note") or "marker")
    return {k: "; ".join(v) for k, v in out.items()}


def records_csv(records: list[dict], who: dict[str, str], uncertain_below: float = UNCERTAIN_BELOW,
                markers: list[dict] = ()) -> str:
    """Per-frame, per-face rows (a frame without a face is one row with no track). who: {track id: person};
    a marker's note is on the rows of the first frame at or after its time."""
    buf = io.StringIO()
    w = csv.writer(buf)
    marked = _marked_frames(records, list(markers)) if markers else {}
    # v_<group>: the valence probabilities (as in batch's tables), apart from the emotions' own columns
    header = ["frame", "t", "wall", "marker", "track", "person", "valence", "valence_shown_as", "valence_confidence",
              *(f"v_{v}" for v in VALENCES), "label", "shown_as", "confidence", "x", "y", "w", "h", *EMOTIONS]
    w.writerow(header)
    for i, rec in enumerate(records):
        base = [rec["frame"], rec["t"], rec.get("wall", ""), spreadsheet_safe(marked.get(i, ""))]
        if not rec["faces"]:
            w.writerow(base + [""] * (len(header) - len(base)))
        for k, face in enumerate(rec["faces"]):
            track = str(face.get("id", k))
            valence, sure = face_valence(face)
            vprobs = (face.get("valence") or {}).get("probs") or {}
            shown = shown_as(face["label"], face["confidence"], uncertain_below)
            probs = face.get("probs") or {}
            w.writerow([spreadsheet_safe(c) for c in (
                *base, track, who.get(track, people.unnamed(track)), valence,
                shown_as(valence, sure, uncertain_below), sure, *(vprobs.get(v, "") for v in VALENCES),
                face["label"], shown, face["confidence"], *(face.get("box") or [""] * 4),
                *(probs.get(e, "") for e in EMOTIONS),
            )])
    return buf.getvalue()
