"""A person across sessions: each name given in review, with her sessions, their figures and the prompts
that moved her most.

A person is a name (people, not tracks: `recording.people`); names match as typed, case and surrounding space
aside, so "Mary" in March and " mary" in May are one person, and "Marry" is another until the misspelt
session is renamed. Only named people are followed across sessions: an unnamed track is a person of its
own session only. Each session is summarised as its review shows it (`report.session_summary` with its
names and markers), so the People page, `ferops people` and the review always agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ferops.apps import markers, report, sessions
from ferops.recording import people
from ferops.core.errors import FerOpsError

TOP_PROMPTS = 5


class HistoryError(FerOpsError, ValueError):
    pass


def summarise_session(folder: Path) -> tuple[dict, dict]:
    """(session.json, the review's summary) of one session folder; ReportError/MarkerError when unreadable."""
    meta = sessions.read_meta(folder)
    log = report.read_log(folder / sessions.LOG)
    names = people.check_names(meta.get("names") or {}, report.log_tracks(log.records))
    marks = markers.read(folder / markers.FILE)
    return meta, report.session_summary(log.records, names=names, markers=marks)


def _session_row(meta: dict, summary: dict, person: str) -> dict:
    s = summary["people"][person]
    prompts = [
        {
            "marker": m["id"],
            "label": m["label"],
            "t": m["t"],
            "enough": m["people"][person]["enough"],
            "positive_change": (m["people"][person]["change"] or {}).get("positive"),
            "negative_change": (m["people"][person]["change"] or {}).get("negative"),
            "seconds_before": m["people"][person]["before"]["seconds"],
            "seconds_after": m["people"][person]["after"]["seconds"],
        }
        for m in summary["markers"]
    ]
    return {
        "id": meta["id"],
        "session": meta.get("name", meta["id"]),
        "started": meta.get("started"),
        "duration_s": summary["duration_s"],
        "name_as_typed": s["name"],
        "tracks": s["tracks"],
        "seconds_seen": s["seconds_seen"],
        "valence_share": s["valence_share"],
        "share": s["share"],
        "prompts": prompts,
    }


def collect(root: Path, summarise: Callable[[Path], tuple[dict, dict]] = summarise_session) -> tuple[dict, list]:
    """Every named person in the library -> {key: {"name", "spellings", "sessions" (oldest first),
    "top_prompts"}}, and the sessions that could not be read ([(id, reason)])."""
    found: dict[str, dict] = {}
    skipped = []
    for meta in sorted(sessions.list_sessions(root), key=lambda m: (str(m.get("started", "")), m["id"])):
        if not meta.get("names") or meta.get("state") == "running":
            continue
        folder = root / meta["id"]
        try:
            meta, summary = summarise(folder)
        except (OSError, ValueError) as e:  # ReportError, MarkerError, NamesError, bad JSON
            skipped.append((meta["id"], str(e)))
            continue
        for person, s in summary["people"].items():
            if not s.get("name"):
                continue
            entry = found.setdefault(people.key(person), {"name": person, "spellings": [], "sessions": []})
            if person not in entry["spellings"]:
                entry["spellings"].append(person)
            entry["sessions"].append(_session_row(meta, summary, person))
    for entry in found.values():
        moved = [
            {**p, "session": row["id"], "session_name": row["session"], "started": row["started"]}
            for row in entry["sessions"]
            for p in row["prompts"]
            if p["enough"]
        ]
        entry["top_prompts"] = sorted(moved, key=lambda p: -p["positive_change"])[:TOP_PROMPTS]
        entry["seconds_seen"] = round(sum(r["seconds_seen"] for r in entry["sessions"]), 3)
    return dict(sorted(found.items())), skipped


def one(everyone: dict, name: str) -> dict:
    try:
        return everyone[people.key(name)]
    except KeyError:
        raise HistoryError(f"no person named {name!r} in any session" if name.strip() else "no name given") \
            from None


def as_text(everyone: dict, skipped: list) -> str:
    """What `ferops people` prints: one block per person, one line per session."""
    if not everyone:
        lines = ["no named people yet: name the people of a session in its review (ferops app)"]
    else:
        lines = []
    for entry in everyone.values():
        n = len(entry["sessions"])
        lines.append(f"{entry['name']}: {n} session{'s' * (n != 1)}, {entry['seconds_seen']:.0f} s of face seen")
        for row in entry["sessions"]:
            v = row["valence_share"]
            lines.append(
                f"  {str(row['started'])[:10]}  {row['session'][:40]:40}  {row['seconds_seen']:6.0f} s  "
                f"positive {v['positive']:4.0%}  neutral {v['neutral']:4.0%}  negative {v['negative']:4.0%}"
            )
        for p in entry["top_prompts"]:
            lines.append(f"  moved by: {p['label']} ({str(p['started'])[:10]}): positive {p['positive_change']:+.0%}")
    lines += [f"skipped session {sid}: {reason}" for sid, reason in skipped]
    return "\n".join(lines) + "\n"


def as_json(everyone: dict, skipped: list) -> str:
    return json.dumps(
        {"people": list(everyone.values()), "skipped": [{"id": i, "reason": r} for i, r in skipped]}, indent=1
    )
