"""Per-person session summaries: the one place that turns face observations into what a reviewer reads.

`ferops report`, the session app and `ferops batch` all summarise through `summarise_people`, so a
session reads the same wherever it was scored. Each person (a track id) is summarised on its own:
a sad patient beside a smiling therapist stays sad. Times are the recording's (the log's `t`).

Confidences are calibrated (temperature fitted on PublicTest), so a face whose top probability is
below `UNCERTAIN_BELOW` is one the model gets wrong about half the time or more: it counts as
"uncertain", not as the emotion it happens to rank first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ferops.core.fer2013 import EMOTIONS

UNCERTAIN = "uncertain"
UNCERTAIN_BELOW = 0.5
# A person unseen for longer than this is away: the gap is not counted as time in any emotion.
MAX_GAP_S = 1.0
# A change of emotion is "marked" when the new one then lasts at least this long.
MIN_CHANGE_S = 2.0


@dataclass(frozen=True)
class Observation:
    t: float  # seconds, in time of the recording
    person: int  # track id
    label: str
    confidence: float


def observations(records: Iterable[dict]) -> list[Observation]:
    """Session-log records ({"t", "faces": [{"id", "label", "confidence"}, ...]}) -> observations."""
    out = []
    for rec in records:
        for k, face in enumerate(rec.get("faces") or []):
            out.append(Observation(float(rec["t"]), int(face.get("id", k)), face["label"], float(face["confidence"])))
    return out


def _runs(times: list[float], labels: list[str], durations: list[float]) -> list[dict]:
    """Consecutive observations with the same label -> [{label, start_t, end_t, seconds}]."""
    runs: list[dict] = []
    for t, label, d in zip(times, labels, durations):
        if runs and runs[-1]["label"] == label and t - runs[-1]["end_t"] <= MAX_GAP_S:
            runs[-1]["end_t"], runs[-1]["seconds"] = t + d, runs[-1]["seconds"] + d
        else:
            runs.append({"label": label, "start_t": t, "end_t": t + d, "seconds": d})
    return runs


def _round(run: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}


def summarise_person(obs: list[Observation], uncertain_below: float = UNCERTAIN_BELOW) -> dict:
    """One person's observations (any order) -> seconds seen, share per emotion, stretches, changes."""
    obs = sorted(obs, key=lambda o: o.t)
    times = [o.t for o in obs]
    steps = [b - a for a, b in zip(times, times[1:])]
    typical = sorted(steps)[len(steps) // 2] if steps else 0.0
    # Each observation stands for the time until the person's next one, unless they were away.
    durations = [s if s <= MAX_GAP_S else typical for s in steps] + [typical]
    labels = [o.label if o.confidence >= uncertain_below else UNCERTAIN for o in obs]
    seen = sum(durations)
    share = dict.fromkeys((*EMOTIONS, UNCERTAIN), 0.0)
    for label, d in zip(labels, durations):
        share[label] += d
    runs = _runs(times, labels, durations)
    longest: dict[str, dict] = {}
    for run in runs:
        if run["label"] not in longest or run["seconds"] > longest[run["label"]]["seconds"]:
            longest[run["label"]] = run
    certain = [r for r in runs if r["label"] != UNCERTAIN and r["seconds"] >= MIN_CHANGE_S]
    changes = [
        {"t": round(b["start_t"], 3), "from": a["label"], "to": b["label"]}
        for a, b in zip(certain, certain[1:])
        if a["label"] != b["label"]
    ]
    return {
        "first_t": round(times[0], 3),
        "last_t": round(times[-1] + durations[-1], 3),
        "seconds_seen": round(seen, 3),
        "observations": len(obs),
        "share": {k: round(v / seen, 4) if seen else 0.0 for k, v in share.items()},
        "longest": {k: _round(v) for k, v in longest.items()},
        "changes": changes,
        "uncertain_stretches": [_round(r) for r in runs if r["label"] == UNCERTAIN],
        "timeline": [_round(r) for r in runs],  # every stretch in order: what a timeline draws
        "mean_confidence": round(sum(o.confidence for o in obs) / len(obs), 4),
    }


def summarise_people(obs: Iterable[Observation], uncertain_below: float = UNCERTAIN_BELOW) -> dict[int, dict]:
    """All observations of a session -> {person: summary}, people in order of first appearance."""
    by_person: dict[int, list[Observation]] = {}
    for o in sorted(obs, key=lambda o: o.t):
        by_person.setdefault(o.person, []).append(o)
    return {p: summarise_person(v, uncertain_below) for p, v in by_person.items()}
