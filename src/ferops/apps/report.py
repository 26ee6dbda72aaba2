"""A session's JSON-lines log -> a summary a person can review (PNG timeline + HTML page)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from ferops.core.fer2013 import EMOTIONS


class ReportError(ValueError):
    pass


@dataclass
class Frame:
    frame: int
    t: float
    label: str | None  # the most confident face's label; None when no face was seen
    confidence: float


def read_log(path: Path) -> list[Frame]:
    if not path.is_file():
        raise ReportError(f"session log not found: {path}")
    frames = []
    with open(path) as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                faces = rec["faces"]
                best = max(faces, key=lambda x: x["confidence"]) if faces else None
                frames.append(
                    Frame(
                        int(rec["frame"]),
                        float(rec["t"]),
                        best["label"] if best else None,
                        float(best["confidence"]) if best else 0.0,
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise ReportError(
                    f"{path}: line {n}: not a ferops session record ({e.__class__.__name__}: {e})"
                ) from None
    if not frames:
        raise ReportError(f"{path}: no frames in the log")
    return frames


def _durations(frames: list[Frame]) -> list[float]:
    """Seconds each frame stands for: until the next frame (the last one gets the median step)."""
    steps = [b.t - a.t for a, b in zip(frames, frames[1:])]
    typical = sorted(steps)[len(steps) // 2] if steps else 0.0
    return [max(s, 0.0) for s in steps] + [typical]


def summarise(frames: list[Frame]) -> dict:
    durations = _durations(frames)
    total = sum(durations) or 1.0
    share = {e: 0.0 for e in EMOTIONS}
    for f, d in zip(frames, durations):
        if f.label:
            share[f.label] += d
    longest: dict[str, dict] = {}
    i = 0
    while i < len(frames):
        j = i
        while j + 1 < len(frames) and frames[j + 1].label == frames[i].label:
            j += 1
        label = frames[i].label
        if label:
            seconds = sum(durations[i : j + 1])
            if label not in longest or seconds > longest[label]["seconds"]:
                longest[label] = {
                    "start_t": frames[i].t,
                    "end_t": frames[j].t + durations[j],
                    "seconds": seconds,
                    "frames": j - i + 1,
                }
        i = j + 1
    no_face = [f.frame for f in frames if f.label is None]
    return {
        "frames": len(frames),
        "duration_s": round(total, 3),
        "time_share": {e: round(s / total, 4) for e, s in share.items()},
        "longest": {
            e: {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for e, r in longest.items()
        },
        "frames_without_face": len(no_face),
        "no_face_share": round(sum(d for f, d in zip(frames, durations) if f.label is None) / total, 4),
    }


def timeline_png(frames: list[Frame], path: Path) -> None:
    from ferops.apps.overlay import COLOURS
    from ferops.training.plots import plt, save_figure

    fig, (ax, bar) = plt.subplots(2, 1, figsize=(10, 4), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    for k, name in enumerate(EMOTIONS):
        pts = [(f.t, f.confidence) for f in frames if f.label == name]
        if pts:
            colour = tuple(c / 255 for c in reversed(COLOURS[name]))
            ax.scatter(*zip(*pts), s=6, color=colour, label=name)
            bar.scatter([t for t, _ in pts], [k] * len(pts), s=4, marker="|", color=colour)
    ax.set_ylabel("confidence")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right", fontsize=7, ncol=4)
    ax.set_title("Emotion timeline (most confident face per frame)")
    bar.set_yticks(range(len(EMOTIONS)), EMOTIONS, fontsize=6)
    bar.set_xlabel("seconds since start")
    save_figure(fig, path)


def write_report(log: Path, out_dir: Path) -> tuple[Path, Path]:
    frames = read_log(log)
    summary = summarise(frames)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{log.stem}_timeline.png"
    page = out_dir / f"{log.stem}_report.html"
    timeline_png(frames, png)
    from ferops.core.io import write_json, write_text

    write_json(out_dir / f"{log.stem}_summary.json", summary)
    rows = "".join(
        f"<tr><td>{e}</td><td>{summary['time_share'][e]:.1%}</td><td>"
        + (
            f"{summary['longest'][e]['seconds']:.1f} s (from {summary['longest'][e]['start_t']:.1f} s)"
            if e in summary["longest"]
            else "-"
        )
        + "</td></tr>"
        for e in EMOTIONS
    )
    write_text(
        page,
        f"""<!doctype html><html><head><meta charset="utf-8">
<title>ferops session report: {html.escape(log.name)}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}td,th{{padding:4px 12px;text-align:left}}</style>
</head><body>
<h1>Session report: {html.escape(log.name)}</h1>
<p>{summary["frames"]} frames over {summary["duration_s"]:.1f} s; no face in {summary["frames_without_face"]}
frames ({summary["no_face_share"]:.1%} of the time). Emotions are the model's estimates from facial
expression alone: read them as a prompt for review, not as a diagnosis.</p>
<img src="{html.escape(png.name)}" alt="emotion timeline" style="width:100%">
<table><tr><th>emotion</th><th>share of time</th><th>longest stretch</th></tr>{rows}</table>
</body></html>
""",
    )
    return png, page
