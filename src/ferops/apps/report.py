"""A session's JSON-lines log -> a per-person summary a reviewer reads, as one self-contained HTML file.

The numbers come from `ferops.apps.summary` (the one per-person summary); this module reads and checks
the log, and renders. The page has no external files: the timeline is inline SVG, so the report can be
mailed or archived as it is.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ferops.apps.summary import UNCERTAIN, UNCERTAIN_BELOW, observations, summarise_people
from ferops.core.fer2013 import EMOTIONS

# Hex colours per emotion for the page (the overlay's BGR colours, as a reviewer sees them on screen).
COLOURS = {
    "angry": "#dc2828",
    "disgust": "#288c28",
    "fear": "#a028a0",
    "happy": "#f0c828",
    "sad": "#2878c8",
    "surprise": "#28c8f0",
    "neutral": "#b4b4b4",
    UNCERTAIN: "#ffffff",
}


class ReportError(ValueError):
    pass


@dataclass
class SessionLog:
    records: list[dict]
    warnings: list[str] = field(default_factory=list)


def _check_record(rec: object) -> str | None:
    """Why `rec` is not a session record, or None when it is one."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    for key in ("frame", "t", "faces"):
        if key not in rec:
            return f"no {key!r} field"
    t = rec["t"]
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        return f"t is not a finite number of seconds ({t!r})"
    if not isinstance(rec["faces"], list):
        return "faces is not a list"
    for face in rec["faces"]:
        if not isinstance(face, dict) or "label" not in face or "confidence" not in face:
            return "a face without label and confidence"
        if face["label"] not in EMOTIONS:
            return f"unknown label {face['label']!r} (known: {', '.join(EMOTIONS)})"
        c = face["confidence"]
        if isinstance(c, bool) or not isinstance(c, int | float) or not 0 <= c <= 1:
            return f"confidence {c!r} is not between 0 and 1"
    return None


def read_log(path: Path) -> SessionLog:
    """Every record of the log, checked. A last line cut off mid-write (a crash, a power cut) is skipped
    with a warning; any other bad line is an error naming the line."""
    if not path.is_file():
        raise ReportError(f"session log not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReportError(f"cannot read {path}: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise ReportError(f"{path} is not a ferops session log (binary data, not JSON lines)")
    lines = text.splitlines(keepends=True)
    log = SessionLog([])
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            problem = _check_record(rec)
        except json.JSONDecodeError as e:
            rec, problem = None, f"not JSON ({e.msg})"
        if problem is None:
            log.records.append(rec)
        elif n == len(lines) and not line.endswith("\n") and rec is None:
            log.warnings.append(f"{path}: line {n} was cut off mid-write (the session stopped abruptly); skipped")
        else:
            raise ReportError(f"{path}: line {n}: not a ferops session record: {problem}")
    if not log.records:
        raise ReportError(f"{path}: no frames in the log")
    return log


def session_summary(records: list[dict], uncertain_below: float = UNCERTAIN_BELOW) -> dict:
    """The whole session: frames, duration, frames without a face, and each person's summary."""
    times = [float(r["t"]) for r in records]
    steps = sorted(b - a for a, b in zip(times, times[1:]) if b >= a)
    typical = steps[len(steps) // 2] if steps else 0.0
    people = summarise_people(observations(records), uncertain_below)
    return {
        "frames": len(records),
        "start_t": round(min(times), 3),
        "duration_s": round(max(times) - min(times) + typical, 3),
        "frames_without_face": sum(1 for r in records if not r["faces"]),
        "uncertain_below": uncertain_below,
        "people": {str(p): s for p, s in people.items()},
    }


def _fmt_t(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


def timeline_svg(summary: dict) -> str:
    """One row per person, one coloured bar per stretch; uncertain stretches hatched grey.

    data-t0 and data-duration let a page turn a click into a time of the recording."""
    t0, duration = summary["start_t"], max(summary["duration_s"], 1e-3)
    width, row, label_w = 1000, 28, 120
    people = summary["people"]
    height = row * max(len(people), 1) + 22
    parts = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" width="100%" data-t0="{t0}" '
        f'data-duration="{duration}" data-left="{label_w}" data-plot="{width - label_w}" '
        'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="emotion timeline per person">',
        '<defs><pattern id="unc" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#eee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="2"/>'
        "</pattern></defs>",
    ]
    scale = (width - label_w) / duration
    for k, (person, s) in enumerate(people.items()):
        y = k * row
        name = html.escape(s.get("name") or f"person {person}")
        parts.append(f'<text x="4" y="{y + 18}" font-size="13">{name}</text>')
        for run in s["timeline"]:
            x = label_w + (run["start_t"] - t0) * scale
            w = max((run["end_t"] - run["start_t"]) * scale, 1.0)
            fill = "url(#unc)" if run["label"] == UNCERTAIN else COLOURS[run["label"]]
            parts.append(
                f'<rect class="run" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{fill}" '
                f'data-t="{run["start_t"]}"><title>{run["label"]} {_fmt_t(run["start_t"])}-{_fmt_t(run["end_t"])}'
                "</title></rect>"
            )
    for k in range(11):
        x = label_w + k * (width - label_w) / 10
        anchor = "end" if k == 10 else "middle"  # the last label stays inside the picture
        parts.append(
            f'<text x="{x:.0f}" y="{height - 4}" font-size="11" text-anchor="{anchor}">'
            f"{_fmt_t(t0 + k * duration / 10)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _person_html(person: str, s: dict) -> str:
    name = s.get("name") or f"person {person}"
    shares = "".join(
        f'<tr><td><span class="sw" style="background:{COLOURS[e]}"></span>{e}</td><td>{s["share"][e]:.1%}</td><td>'
        + (
            f'{s["longest"][e]["seconds"]:.1f} s from {_fmt_t(s["longest"][e]["start_t"])}'
            if e in s["longest"]
            else "-"
        )
        + "</td></tr>"
        for e in (*EMOTIONS, UNCERTAIN)
    )
    changes = "".join(
        f"<li>{_fmt_t(c['t'])}: {html.escape(c['from'])} &rarr; {html.escape(c['to'])}</li>" for c in s["changes"]
    )
    unsure = "".join(
        f"<li>{_fmt_t(u['start_t'])}-{_fmt_t(u['end_t'])} ({u['seconds']:.1f} s)</li>" for u in s["uncertain_stretches"]
    )
    return (
        f'<section class="person" data-person="{html.escape(person)}"><h2>{html.escape(name)} '
        f'<small>(track {html.escape(person)})</small></h2>'
        f"<p>Seen {s['seconds_seen']:.1f} s, from {_fmt_t(s['first_t'])} to {_fmt_t(s['last_t'])}; "
        f"mean confidence {s['mean_confidence']:.0%}.</p>"
        f"<table><tr><th>emotion</th><th>share of time</th><th>longest stretch</th></tr>{shares}</table>"
        f"<h3>Marked changes</h3><ul>{changes or '<li>none</li>'}</ul>"
        f"<h3>Uncertain stretches</h3><ul>{unsure or '<li>none</li>'}</ul></section>"
    )


STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:1em auto;padding:0 1em}td,th{padding:3px 10px;"
    "text-align:left}.sw{display:inline-block;width:12px;height:12px;margin-right:6px;border:1px solid #888}"
    ".person{border-top:1px solid #ccc;margin-top:1em}small{color:#666;font-weight:normal}"
)


def report_body(title: str, summary: dict, warnings: list[str] = ()) -> str:
    """The report's content (no <html> wrapper): shared by the file report and the app's review page."""
    warn = "".join(f'<p class="warning">{html.escape(w)}</p>' for w in warnings)
    people = "".join(_person_html(p, s) for p, s in summary["people"].items())
    return (
        f"<h1>{html.escape(title)}</h1>{warn}"
        f"<p>{summary['frames']} frames over {_fmt_t(summary['duration_s'])} of recording; "
        f"{len(summary['people'])} person(s); no face in {summary['frames_without_face']} frames. "
        f"Confidence below {summary['uncertain_below']:.0%} is shown as <em>uncertain</em>. Emotions are the "
        "model's estimates from facial expression alone: read them as a prompt for review, not as a diagnosis.</p>"
        f"{timeline_svg(summary)}{people or '<p>No face was seen.</p>'}"
    )


def render_html(title: str, summary: dict, warnings: list[str] = ()) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{report_body(title, summary, warnings)}</body></html>\n"
    )


def with_names(summary: dict, names: dict[str, str]) -> dict:
    """The summary with people's given names (from the session app) attached."""
    return {**summary, "people": {p: {**s, "name": names.get(p, "")} for p, s in summary["people"].items()}}


def check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"--out {out_dir} is an existing file, not a folder")
    probe = out_dir if out_dir.exists() else next((p for p in out_dir.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ReportError(f"cannot write the report into {out_dir}: {probe} is not writable")


def write_report(log: Path, out_dir: Path) -> tuple[Path, list[str]]:
    """Writes <stem>_report.html and <stem>_summary.json into out_dir; returns the page and any warnings."""
    from ferops.core.io import write_json, write_text

    check_out_dir(out_dir)
    session = read_log(log)
    summary = session_summary(session.records)
    page = out_dir / f"{log.stem}_report.html"
    try:
        write_json(out_dir / f"{log.stem}_summary.json", summary)
        write_text(page, render_html(f"Session report: {log.name}", summary, session.warnings))
    except OSError as e:
        raise ReportError(f"cannot write the report into {out_dir}: {e.strerror}") from None
    return page, session.warnings
