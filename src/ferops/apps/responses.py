"""How each person responded to each marker: her valence (and emotion) in a window after the marker
against the window before it.

The window before a marker at t is [t - window, t); the window after is [t, end) for a marker with an
end (a prompt that lasted a while), else [t, t + window). Each observation counts for the time it stands
for (`summary.time_of_each`), so the seconds of face in each window are what was seen, not frames. A
change measured on less than `MIN_SECONDS` of face in either window is not a finding: the person is
listed with "not enough data" and left out of the ranking.
"""

from __future__ import annotations

from ferops.apps.markers import label
from ferops.recording.summary import (
    UNCERTAIN_BELOW,
    Observation,
    shares,
    shown_as,
    time_of_each,
)
from ferops.core.fer2013 import EMOTIONS, VALENCES

WINDOW_S = 20.0
MIN_SECONDS = 5.0


def _window(obs: list[Observation], durations: list[float], a: float, b: float, uncertain_below: float) -> dict:
    inside = [(o, d) for o, d in zip(obs, durations) if a <= o.t < b]
    seconds = [d for _, d in inside]
    valences = [shown_as(o.valence, o.valence_confidence, uncertain_below) for o, _ in inside]
    emotions = [shown_as(o.label, o.confidence, uncertain_below) for o, _ in inside]
    return {
        "seconds": round(sum(seconds), 3),
        "valence_share": shares(valences, seconds, VALENCES),
        "share": shares(emotions, seconds, EMOTIONS),
    }


def respond(by_person: dict[str, list[Observation]], markers: list[dict], window_s: float = WINDOW_S,
            min_seconds: float = MIN_SECONDS, uncertain_below: float = UNCERTAIN_BELOW) -> list[dict]:
    """Each marker (in order) with, for each person, the windows before and after it and the change."""
    timed = {}
    for person, obs in by_person.items():
        obs = sorted(obs, key=lambda o: o.t)
        timed[person] = (obs, time_of_each([o.t for o in obs]))
    out = []
    for m in markers:
        before = [round(m["t"] - window_s, 3), m["t"]]
        after = [m["t"], m["end"] if m.get("end") is not None else round(m["t"] + window_s, 3)]
        people = {}
        for person, (obs, durations) in timed.items():
            b = _window(obs, durations, *before, uncertain_below)
            a = _window(obs, durations, *after, uncertain_below)
            enough = b["seconds"] >= min_seconds and a["seconds"] >= min_seconds
            change = (
                {v: round(a["valence_share"][v] - b["valence_share"][v], 4) for v in VALENCES} if enough else None
            )
            people[person] = {"before": b, "after": a, "enough": enough, "change": change}
        out.append({**m, "label": label(m), "before": before, "after": after, "people": people})
    return out


def reached(responses: list[dict]) -> list[dict]:
    """Which prompts reached whom: one row per person and marker, those with enough data first, by the change
    in positive share (largest rise first); then those without, in order of time."""
    rows = [
        {
            "person": person,
            "marker": r["id"],
            "label": r["label"],
            "t": r["t"],
            "enough": p["enough"],
            "positive_change": p["change"]["positive"] if p["enough"] else None,
            "negative_change": p["change"]["negative"] if p["enough"] else None,
            "seconds_before": p["before"]["seconds"],
            "seconds_after": p["after"]["seconds"],
        }
        for r in responses
        for person, p in r["people"].items()
    ]
    found = sorted((r for r in rows if r["enough"]), key=lambda r: (-r["positive_change"], r["t"]))
    return found + [r for r in rows if not r["enough"]]
