"""The app's People page: each named person across sessions (from `apps.history`), rendered from
templates/people.html."""

from __future__ import annotations

import difflib
import html
import json

from ferops.recording import people
from ferops.apps.report import VALENCE_COLOURS, fmt_t

E = html.escape


def trend_svg(entry: dict) -> str:
    """Positive and negative share of each session, oldest first: one point per session."""
    rows = entry["sessions"]
    width, height, left, bottom = 640, 180, 40, 30
    plot_w, plot_h = width - left - 10, height - bottom - 10
    step = plot_w / max(len(rows) - 1, 1)
    parts = [
        f'<svg class="trend" viewBox="0 0 {width} {height}" width="{width}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" aria-label="valence per session">'
    ]
    for k in range(0, 101, 25):
        y = 10 + plot_h * (1 - k / 100)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.0f}" y2="{y:.0f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y + 4:.0f}" font-size="10" text-anchor="end">{k}%</text>')
    for valence in ("positive", "negative"):
        points = [
            (left + (k * step if len(rows) > 1 else plot_w / 2), 10 + plot_h * (1 - r["valence_share"][valence]))
            for k, r in enumerate(rows)
        ]
        colour = VALENCE_COLOURS[valence]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        parts += [
            f'<circle class="{valence}" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
            f"<title>{E(str(r['started'])[:10])} {valence} {r['valence_share'][valence]:.0%}</title></circle>"
            for (x, y), r in zip(points, rows)
        ]
    for k, r in enumerate(rows):
        x = left + (k * step if len(rows) > 1 else plot_w / 2)
        anchor = "end" if k == len(rows) - 1 and len(rows) > 1 else "start" if k == 0 and len(rows) > 1 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" font-size="10" text-anchor="{anchor}">'
                     f"{E(str(r['started'])[5:10])}</text>")
    parts.append("</svg>")
    parts.append(
        "<p><small>"
        + " ".join(f'<span class="sw" style="background:{VALENCE_COLOURS[v]}"></span>{v} share of the time seen'
                   for v in ("positive", "negative"))
        + ", one point per session (month-day).</small></p>"
    )
    return "".join(parts)


def _person(key: str, entry: dict) -> str:
    sessions = "".join(
        f'<tr data-session="{E(r["id"])}"><td>{E(str(r["started"])[:16].replace("T", " "))}</td>'
        f'<td><a href="/sessions/{E(r["id"])}">{E(r["session"])}</a></td><td>{fmt_t(r["duration_s"])}</td>'
        f'<td>{r["seconds_seen"]:.0f} s</td>'
        + "".join(f'<td>{r["valence_share"][v]:.0%}</td>' for v in ("positive", "neutral", "negative"))
        + f'<td><a href="/sessions/{E(r["id"])}#people">fix the name in this session</a></td></tr>'
        for r in entry["sessions"]
    )
    prompts = "".join(
        f'<li>{E(p["label"])} ({E(str(p["started"])[:10])}, <a href="/sessions/{E(p["session"])}#prompts">'
        f'{E(p["session_name"])}</a>): positive {p["positive_change"] * 100:+.0f} pts '
        f"({p['seconds_before']:.0f} s / {p['seconds_after']:.0f} s of face)</li>"
        for p in entry["top_prompts"]
    )
    spellings = (
        f"<p><small>Typed as: {', '.join(E(s) for s in entry['spellings'])}.</small></p>"
        if len(entry["spellings"]) > 1 else ""
    )
    n = len(entry["sessions"])
    return (
        f'<section class="person" data-person="{E(entry["name"])}"><h2>{E(entry["name"])} <small>{n} session'
        f"{'s' * (n != 1)}</small></h2>{spellings}"
        f'<table class="sessions"><tr><th>date</th><th>session</th><th>length</th><th>face seen</th>'
        f"<th>positive</th><th>neutral</th><th>negative</th><th></th></tr>{sessions}</table>"
        f"<h3>Valence over sessions</h3>{trend_svg(entry)}"
        f"<h3>Prompts that moved {E(entry['name'])} most</h3>"
        f"<ul class=\"prompts\">{prompts or '<li>none yet with enough data (mark prompts in a review)</li>'}</ul>"
        f'<p><button class="erase" data-name="{E(entry["name"])}">Erase {E(entry["name"])} from every session'
        "</button></p></section>"
    )


def look_alikes(everyone: dict) -> list[tuple[str, str]]:
    """Pairs of names close enough to be one misspelt ("Mary", "Marry"): the page asks, it does not join."""
    names = [e["name"] for e in everyone.values()]
    return [
        (a, b)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if difflib.SequenceMatcher(None, people.key(a), people.key(b)).ratio() >= 0.8
    ]


def page(everyone: dict, skipped: list, retention: str, render) -> str:
    hints = "".join(
        f"<li>{E(a)} and {E(b)} look alike: if they are one person, open the session with the misspelt name "
        "and type the name again there.</li>"
        for a, b in look_alikes(everyone)
    )
    unread = "".join(f"<li>session {E(sid)}: {E(reason)}</li>" for sid, reason in skipped)
    body = (
        (f'<ul class="lookalikes">{hints}</ul>' if hints else "")
        + ("".join(_person(k, e) for k, e in everyone.items())
           or "<p>No named people yet: name the people of a session in its review.</p>")
        + (f'<h2>Sessions that could not be read</h2><ul class="warning">{unread}</ul>' if unread else "")
    )
    return render("people.html", body=body, retention=E(retention), names=E(json.dumps(list(everyone))))
