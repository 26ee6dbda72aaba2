"""Per-person session summaries: the one place that turns face observations into what a reviewer reads.

`ferops report`, the session app and `ferops batch` all summarise through `summarise_people`, so a
session reads the same wherever it was scored. Each person is summarised on her own: a sad patient
beside a smiling therapist stays sad. A person is a track of the log (the tracker's id), or all the
tracks given one name in review (`ferops.recording.people`). Times are the recording's (the log's `t`).

Each face is read twice: its valence (positive, neutral, negative: the seven emotions' probabilities
summed, see core.fer2013), which leads, and its emotion, the detail. Confidences are calibrated
(temperature fitted on PublicTest), so a face whose top probability is below `UNCERTAIN_BELOW` is one
the model gets wrong about half the time or more: it counts as "uncertain", not as what it happens to
rank first. Valence is unsure far less often than the emotion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ferops.core.fer2013 import EMOTIONS, VALENCE_OF, VALENCES

UNCERTAIN = "uncertain"
UNCERTAIN_BELOW = 0.5
# A person unseen for longer than this is away: the gap is not counted as time in any emotion.
MAX_GAP_S = 1.0
# A change of emotion is "marked" when the new one then lasts at least this long.
MIN_CHANGE_S = 2.0


def shown_as(label: str, confidence: float, uncertain_below: float = UNCERTAIN_BELOW) -> str:
    """What a reviewer is shown for a label (an emotion or a valence): itself, or "uncertain" below the bar."""
    return label if confidence >= uncertain_below else UNCERTAIN


@dataclass(frozen=True)
class Observation:
    t: float  # seconds, in time of the recording
    person: int | str  # track id, or a person's name
    label: str
    confidence: float
    valence: str
    valence_confidence: float


def face_valence(face: dict) -> tuple[str, float]:
    """A log face's valence: as logged, else summed from its probabilities (logs written before valence),
    else its emotion's group with that emotion's confidence (at least that sure)."""
    if isinstance(face.get("valence"), dict):
        return face["valence"]["label"], float(face["valence"]["confidence"])
    probs = face.get("probs")
    if isinstance(probs, dict) and all(isinstance(probs.get(e), int | float) for e in EMOTIONS):
        sums = {v: sum(float(probs[e]) for e in EMOTIONS if VALENCE_OF[e] == v) for v in VALENCES}
        best = max(VALENCES, key=lambda v: sums[v])
        return best, round(sums[best], 4)
    return VALENCE_OF[face["label"]], float(face["confidence"])


def observations(records: Iterable[dict]) -> list[Observation]:
    """Session-log records ({"t", "faces": [{"id", "label", "confidence", "valence"}, ...]}) -> observations."""
    out = []
    for rec in records:
        for k, face in enumerate(rec.get("faces") or []):
            valence, sure = face_valence(face)
            out.append(Observation(float(rec["t"]), int(face.get("id", k)), face["label"], float(face["confidence"]),
                                   valence, sure))
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


def time_of_each(times: list[float]) -> list[float]:
    """One person's observation times (sorted) -> the seconds each one stands for: the time until her next
    one, unless she was away (then the typical step). Two faces of one person at one moment (two tracks
    given one name) share that moment."""
    steps = [b - a for a, b in zip(times, times[1:])]
    positive = sorted(s for s in steps if s > 0)
    typical = positive[len(positive) // 2] if positive else 0.0
    return [s if s <= MAX_GAP_S else typical for s in steps] + [typical]


def shares(labels: list[str], durations: list[float], keys: tuple[str, ...]) -> dict[str, float]:
    """Share of the observed time per label (keys, and uncertain); all 0 when nothing was observed."""
    seen = sum(durations)
    share = dict.fromkeys((*keys, UNCERTAIN), 0.0)
    for label, d in zip(labels, durations):
        share[label] += d
    return {k: round(v / seen, 4) if seen else 0.0 for k, v in share.items()}


def summarise_person(obs: list[Observation], uncertain_below: float = UNCERTAIN_BELOW) -> dict:
    """One person's observations (any order) -> seconds seen; valence shares and stretches; share per
    emotion, stretches, changes."""
    obs = sorted(obs, key=lambda o: o.t)
    times = [o.t for o in obs]
    durations = time_of_each(times)
    labels = [shown_as(o.label, o.confidence, uncertain_below) for o in obs]
    valences = [shown_as(o.valence, o.valence_confidence, uncertain_below) for o in obs]
    seen = sum(durations)
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
        "valence_share": shares(valences, durations, VALENCES),
        "valence_timeline": [_round(r) for r in _runs(times, valences, durations)],
        "share": shares(labels, durations, EMOTIONS),
        "longest": {k: _round(v) for k, v in longest.items()},
        "changes": changes,
        "uncertain_stretches": [_round(r) for r in runs if r["label"] == UNCERTAIN],
        "timeline": [_round(r) for r in runs],  # every stretch in order: what a timeline draws
        "mean_confidence": round(sum(o.confidence for o in obs) / len(obs), 4),
    }


def summarise_people(obs: Iterable[Observation], uncertain_below: float = UNCERTAIN_BELOW) -> dict:
    """All observations of a session -> {person: summary}, people in order of first appearance."""
    by_person: dict = {}
    for o in sorted(obs, key=lambda o: o.t):
        by_person.setdefault(o.person, []).append(o)
    return {p: summarise_person(v, uncertain_below) for p, v in by_person.items()}
