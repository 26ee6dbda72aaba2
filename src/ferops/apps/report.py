"""A session's JSON-lines log -> a per-person summary a reviewer reads, as one self-contained HTML file.

The numbers come from `ferops.recording.summary` (the one per-person summary), the people from
`ferops.recording.people` (tracks joined by name); this module reads and checks the log, and renders. Each
person's valence (positive, neutral, negative) leads; the seven emotions follow, for detail. The page
has no external files: the timelines are inline SVG, so the report can be mailed or archived as it is.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ferops.apps import markers as markers_
from ferops.recording import people as people_
from ferops.apps import responses as responses_
from ferops.recording.summary import UNCERTAIN, UNCERTAIN_BELOW, observations, summarise_people
from ferops.core.errors import FerOpsError
from ferops.core.fer2013 import EMOTIONS, VALENCES
from ferops.runtime.video import EMOTION_COLOURS

# Hex colours per emotion for the page (the overlay's, as a reviewer sees them on screen).
COLOURS = {**EMOTION_COLOURS, UNCERTAIN: "#ffffff"}
# Valence: warm for positive, cool for negative, grey for neither (a glance tells them apart).
VALENCE_COLOURS = {"positive": "#f0b428", "neutral": "#b4b4b4", "negative": "#3c64b4", UNCERTAIN: "#ffffff"}


class ReportError(FerOpsError, ValueError):
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


def recording_span(records: list[dict]) -> tuple[float, float]:
    """(first time, duration) of a log's recording, in seconds; the last frame lasts a typical step."""
    times = [float(r["t"]) for r in records]
    steps = sorted(b - a for a, b in zip(times, times[1:]) if b >= a)
    typical = steps[len(steps) // 2] if steps else 0.0
    return round(min(times), 3), round(max(times) - min(times) + typical, 3)


def session_summary(records: list[dict], uncertain_below: float = UNCERTAIN_BELOW,
                    names: dict[str, str] | None = None, markers: list[dict] | None = None,
                    window_s: float = responses_.WINDOW_S) -> dict:
    """The whole session: frames, duration, frames without a face, its tracks, each person's summary
    (tracks given one name are one person; `names`: {track id: name}, from session.json or --names), and
    each person's response to each marker (`markers`, from markers.json or --markers)."""
    start_t, duration_s = recording_span(records)
    obs = observations(records)
    spans: dict[int, list[float]] = {}  # each track's first and last time, in one pass
    for o in sorted(obs, key=lambda o: o.t):
        spans.setdefault(o.person, [o.t, o.t])[1] = o.t
    tracks = list(spans)
    who = people_.people(tracks, names or {})
    obs = [dataclasses.replace(o, person=who[o.person]) for o in obs]
    summaries = summarise_people(obs, uncertain_below)
    given = {who[t]: (names or {}).get(str(t), "") for t in tracks}
    by_person: dict[str, list] = {p: [] for p in summaries}
    for o in obs:
        by_person[o.person].append(o)
    answers = responses_.respond(by_person, markers or [], window_s, uncertain_below=uncertain_below)
    return {
        "frames": len(records),
        "start_t": start_t,
        "duration_s": duration_s,
        "frames_without_face": sum(1 for r in records if not r["faces"]),
        "uncertain_below": uncertain_below,
        "tracks": {str(t): who[t] for t in tracks},  # which person each track of the log is
        "track_spans": {str(t): [round(a, 3), round(b, 3)] for t, (a, b) in spans.items()},
        "people": {
            person: {"name": given[person] and person, "tracks": [t for t in tracks if who[t] == person], **s}
            for person, s in summaries.items()
        },
        "response_window_s": window_s,
        "response_min_seconds": responses_.MIN_SECONDS,
        "markers": answers,  # each marker, with each person's response to it
        "reached": responses_.reached(answers),
    }


def fmt_t(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


def timeline_svg(summary: dict, kind: str = "valence") -> str:
    """One row per person, one coloured bar per stretch (kind "valence" or "emotion"); uncertain
    stretches hatched grey.

    data-t0 and data-duration let a page turn a click into a time of the recording."""
    t0, duration = summary["start_t"], max(summary["duration_s"], 1e-3)
    width, row, label_w = 1000, 28, 140
    people = summary["people"]
    marks = summary.get("markers") or []
    top = 18 if marks else 0  # a band above the rows for the markers' notes
    runs_key, colours = ("valence_timeline", VALENCE_COLOURS) if kind == "valence" else ("timeline", COLOURS)
    height = top + row * max(len(people), 1) + 22
    parts = [
        f'<svg class="timeline {kind}" viewBox="0 0 {width} {height}" width="100%" data-t0="{t0}" '
        f'data-duration="{duration}" data-left="{label_w}" data-plot="{width - label_w}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{kind} timeline per person">',
        f'<defs><pattern id="unc-{kind}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eee"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="2"/></pattern></defs>',
    ]
    scale = (width - label_w) / duration
    for k, (person, s) in enumerate(people.items()):
        y = top + k * row
        parts.append(f'<text x="4" y="{y + 18}" font-size="13">{html.escape(person[:18])}</text>')
        for run in s[runs_key]:
            x = label_w + (run["start_t"] - t0) * scale
            w = max((run["end_t"] - run["start_t"]) * scale, 1.0)
            fill = f"url(#unc-{kind})" if run["label"] == UNCERTAIN else colours[run["label"]]
            parts.append(
                f'<rect class="run" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{fill}" '
                f'data-t="{run["start_t"]}"><title>{run["label"]} {fmt_t(run["start_t"])}-{fmt_t(run["end_t"])}'
                "</title></rect>"
            )
    for m in marks:
        x = label_w + (m["t"] - t0) * scale
        band = ""
        if m.get("end") is not None:
            band = (f'<rect x="{x:.1f}" y="{top}" width="{max((m["end"] - m["t"]) * scale, 1.0):.1f}" '
                    f'height="{height - top - 22}" fill="#c03030" fill-opacity="0.12"/>')
        until = f" to {fmt_t(m['end'])}" if m.get("end") is not None else ""
        parts.append(
            f'<g class="marker" data-id="{html.escape(m["id"])}" data-t="{m["t"]}">{band}'
            f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{height - 22}" stroke="#c03030" stroke-width="2"/>'
            f'<text x="{x + 3:.1f}" y="13" font-size="11" fill="#c03030">{html.escape(m["label"][:24])}</text>'
            f"<title>{html.escape(m['label'])} at {fmt_t(m['t'])}{until}</title></g>"
        )
    for k in range(11):
        x = label_w + k * (width - label_w) / 10
        anchor = "end" if k == 10 else "middle"  # the last label stays inside the picture
        parts.append(
            f'<text x="{x:.0f}" y="{height - 4}" font-size="11" text-anchor="{anchor}">'
            f"{fmt_t(t0 + k * duration / 10)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _person_html(person: str, s: dict) -> str:
    valence = "".join(
        f'<tr><td><span class="sw" style="background:{VALENCE_COLOURS[v]}"></span>{v}</td>'
        f'<td>{s["valence_share"][v]:.1%}</td></tr>'
        for v in (*VALENCES, UNCERTAIN)
    )
    shares = "".join(
        f'<tr><td><span class="sw" style="background:{COLOURS[e]}"></span>{e}</td><td>{s["share"][e]:.1%}</td><td>'
        + (
            f'{s["longest"][e]["seconds"]:.1f} s from {fmt_t(s["longest"][e]["start_t"])}'
            if e in s["longest"]
            else "-"
        )
        + "</td></tr>"
        for e in (*EMOTIONS, UNCERTAIN)
    )
    changes = "".join(
        f"<li>{fmt_t(c['t'])}: {html.escape(c['from'])} &rarr; {html.escape(c['to'])}</li>" for c in s["changes"]
    )
    unsure = "".join(
        f"<li>{fmt_t(u['start_t'])}-{fmt_t(u['end_t'])} ({u['seconds']:.1f} s)</li>" for u in s["uncertain_stretches"]
    )
    tracks = ", ".join(str(t) for t in s.get("tracks", []))
    return (
        f'<section class="person" data-person="{html.escape(person)}"><h2>{html.escape(person)} '
        f'<small>(track{"s" if len(s.get("tracks", [])) > 1 else ""} {html.escape(tracks)})</small></h2>'
        f"<p>Seen {s['seconds_seen']:.1f} s, from {fmt_t(s['first_t'])} to {fmt_t(s['last_t'])}.</p>"
        f'<table class="valence"><tr><th>valence</th><th>share of time</th></tr>{valence}</table>'
        f"<details><summary>Emotions in detail (mean confidence {s['mean_confidence']:.0%})</summary>"
        f"<table><tr><th>emotion</th><th>share of time</th><th>longest stretch</th></tr>{shares}</table>"
        f"<h3>Marked changes</h3><ul>{changes or '<li>none</li>'}</ul>"
        f"<h3>Uncertain emotion</h3><ul>{unsure or '<li>none</li>'}</ul></details></section>"
    )


STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:1em auto;padding:0 1em}td,th{padding:3px 10px;"
    "text-align:left}.sw{display:inline-block;width:12px;height:12px;margin-right:6px;border:1px solid #888}"
    ".person{border-top:1px solid #ccc;margin-top:1em}small{color:#666;font-weight:normal}"
    ".nodata{color:#666;font-style:italic}"
)


def _legend(colours: dict[str, str]) -> str:
    return " ".join(
        f'<span class="sw" style="background:{c}"></span>{html.escape(k)}' for k, c in colours.items()
    )


def _pct(share: float) -> str:
    return f"{share:.0%}"


def _change(x: float) -> str:
    return f"{x * 100:+.0f} pts"


def responses_html(summary: dict) -> str:
    """Each marker's response table, then "which prompts reached whom"; nothing without markers."""
    marks = summary.get("markers") or []
    if not marks:
        return ""
    w, need = summary["response_window_s"], summary["response_min_seconds"]
    parts = [
        '<h2 id="prompts">Prompts</h2><p><small>For each marker: each person\'s valence in the '
        f"{w:g} s before it against the {w:g} s after it (or until its end, for a prompt that lasted a while), "
        f"with the seconds of face seen in each. Under {need:g} s of face in either window there is not "
        "enough data to say anything.</small></p>"
    ]
    for m in marks:
        until = f" to {fmt_t(m['end'])}" if m.get("end") is not None else ""
        rows = []
        for person, r in m["people"].items():
            b, a = r["before"], r["after"]
            if r["enough"]:
                cells = (
                    f"<td>{_pct(b['valence_share']['positive'])} &rarr; {_pct(a['valence_share']['positive'])}</td>"
                    f"<td>{_pct(b['valence_share']['negative'])} &rarr; {_pct(a['valence_share']['negative'])}</td>"
                    f"<td>{_change(r['change']['positive'])}</td>"
                )
            else:
                cells = '<td colspan="3" class="nodata">not enough data</td>'
            rows.append(
                f'<tr data-person="{html.escape(person)}"><td>{html.escape(person)}</td>'
                f"<td>{b['seconds']:.1f} s</td><td>{a['seconds']:.1f} s</td>{cells}</tr>"
            )
        parts.append(
            f'<section class="prompt" data-marker="{html.escape(m["id"])}"><h3>{fmt_t(m["t"])}{until}: '
            f"{html.escape(m['label'])}</h3><table><tr><th>person</th><th>face before</th><th>face after</th>"
            "<th>positive</th><th>negative</th><th>change in positive</th></tr>"
            f"{''.join(rows)}</table></section>"
        )
    rows = "".join(
        f'<tr><td>{html.escape(r["person"])}</td><td>{fmt_t(r["t"])} {html.escape(r["label"])}</td>'
        + (
            f"<td>{_change(r['positive_change'])}</td><td>{_change(r['negative_change'])}</td>"
            if r["enough"]
            else '<td colspan="2" class="nodata">not enough data</td>'
        )
        + f"<td>{r['seconds_before']:.1f} s / {r['seconds_after']:.1f} s</td></tr>"
        for r in summary["reached"]
    )
    parts.append(
        '<h3 id="reached">Which prompts reached whom</h3><p><small>Largest rise in positive share first. The '
        "seconds are the face seen before / after: a change on a few seconds of face is not a finding."
        "</small></p><table id=\"reached-table\"><tr><th>person</th><th>prompt</th><th>change in positive</th>"
        f"<th>change in negative</th><th>face seen</th></tr>{rows}</table>"
    )
    return "".join(parts)


def report_body(title: str, summary: dict, warnings: list[str] = ()) -> str:
    """The report's content (no <html> wrapper): shared by the file report and the app's review page."""
    warn = "".join(f'<p class="warning">{html.escape(w)}</p>' for w in warnings)
    people = "".join(_person_html(p, s) for p, s in summary["people"].items())
    n = len(summary["people"])
    return (
        f"<h1>{html.escape(title)}</h1>{warn}"
        f"<p>{summary['frames']} frames over {fmt_t(summary['duration_s'])} of recording; "
        f"{n} {'person' if n == 1 else 'people'}; no face in {summary['frames_without_face']} frames. "
        "<em>Valence</em> says whether a face looks positive (happy), negative (angry, disgusted, afraid, sad "
        "or surprised) or neutral; it is the model's estimate from facial expression alone: read it as a "
        "prompt for review, not as a diagnosis. Where the model is less than "
        f"{summary['uncertain_below']:.0%} sure, the time is shown as <em>uncertain</em> (hatched).</p>"
        f"<h2>Valence</h2><p>{_legend(VALENCE_COLOURS)}</p>{timeline_svg(summary, 'valence')}"
        f"<details><summary>Emotions in detail</summary><p>{_legend(COLOURS)}</p>"
        f"{timeline_svg(summary, 'emotion')}</details>"
        f"{responses_html(summary)}"
        f"{people or '<p>No face was seen.</p>'}"
    )


def render_html(title: str, summary: dict, warnings: list[str] = ()) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{report_body(title, summary, warnings)}</body></html>\n"
    )


def check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"--out {out_dir} is an existing file, not a folder")
    probe = out_dir if out_dir.exists() else next((p for p in out_dir.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ReportError(f"cannot write the report into {out_dir}: {probe} is not writable")


def log_tracks(records: list[dict]) -> set[int]:
    return {int(face.get("id", k)) for rec in records for k, face in enumerate(rec["faces"])}


def session_names(log: Path, names_file: Path | None, tracks: set[int]) -> tuple[dict[str, str], str | None]:
    """The people's names for a log (checked against its `tracks`): --names, else the session.json beside
    it (the session app's); and the session's own name when session.json gives one."""
    beside = log.parent / "session.json"
    meta: dict = {}
    if beside.is_file():
        try:
            meta = json.loads(beside.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as e:
            if names_file is None:
                raise ReportError(f"cannot read the names in {beside}: {e}; pass --names FILE instead") from None
        meta = meta if isinstance(meta, dict) else {}
    source = names_file or beside
    try:
        given = people_.read_names_file(names_file) if names_file is not None else meta.get("names") or {}
        return people_.check_names(given, tracks), meta.get("name")  # type: ignore[return-value]
    except people_.NamesError as e:
        raise ReportError(f"{source}: {e}") from None


def session_markers(log: Path, markers_file: Path | None, span: tuple[float, float]) -> list[dict]:
    """The markers for a log: --markers, else the markers.json beside it (the session app's), checked
    against the recording's time span."""
    source = markers_file or log.parent / markers_.FILE
    if markers_file is not None and not markers_file.is_file():
        raise ReportError(f"--markers {markers_file}: file not found")
    try:
        found = markers_.read(source)
    except markers_.MarkerError as e:
        raise ReportError(f"{source}: {e}") from None
    start, duration = span
    out = []
    for k, m in enumerate(found, start=1):
        try:
            out.append({"id": m["id"], **markers_.check(m, duration, start)})
        except markers_.MarkerError as e:
            raise ReportError(f"{source}: marker {k} ({markers_.label(m)}): {e}") from None
    return out


def write_report(log: Path, out_dir: Path, names_file: Path | None = None, markers_file: Path | None = None,
                 window_s: float = responses_.WINDOW_S) -> tuple[Path, list[str]]:
    """Writes <stem>_report.html and <stem>_summary.json into out_dir; returns the page and any warnings.
    People are named from `names_file` ({track id: name}), else from the session.json beside the log;
    markers come from `markers_file`, else the markers.json beside the log."""
    from ferops.core.io import write_json, write_text

    check_out_dir(out_dir)
    session = read_log(log)
    names, title = session_names(log, names_file, log_tracks(session.records))
    marks = session_markers(log, markers_file, recording_span(session.records))
    summary = session_summary(session.records, names=names, markers=marks, window_s=window_s)
    page = out_dir / f"{log.stem}_report.html"
    try:
        write_json(out_dir / f"{log.stem}_summary.json", summary)
        write_text(page, render_html(f"Session report: {title or log.name}", summary, session.warnings))
    except OSError as e:
        raise ReportError(f"cannot write the report into {out_dir}: {e.strerror}") from None
    return page, session.warnings
