"""`ferops app` stays responsive while it processes a video: page loads, idle vs during a session.

Serves the app in-process (as `ferops app` does), finishes one short session so there is a review page,
times the pages while idle, then again while a second session processes a long video, side by side.
Target: p95 < 300 ms while processing.

    .venv/bin/python benchmarks/app_responsiveness.py [--model-uri models:/fer@production] [--requests 60]

Without a registered model it uses an untrained network of the same architecture (the same cost).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.apps import BOXES, app_server, http, wait_done  # noqa: E402
from results import Printed, write_results  # noqa: E402


class DetectorWithTwoFaces:
    """The live detector's full cost on every frame, then two faces at fixed places, so the model runs on
    two faces a frame (with flip TTA) as it would in a session with a patient and a therapist."""

    name = "live Haar cost + two fixed faces (benchmark)"

    def __init__(self):
        from ferops.runtime.faces import live_detector

        self.haar = live_detector()

    def detect(self, image):
        from ferops.runtime.faces import Face

        self.haar.detect(image)
        return [Face(b, None) for b in BOXES]


def classifier_for(model_uri: str):
    from ferops.registry.loading import ModelNotFound, load_classifier
    from ferops.runtime.classifier import EmotionClassifier
    from ferops.training import architectures

    try:
        return load_classifier(model_uri), model_uri
    except ModelNotFound:
        return EmotionClassifier(architectures.build("fer_cnn")), "untrained fer_cnn (no registered model)"


def video(path: Path, n: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (640, 480))
    base = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8), (31, 31), 0)
    for k in range(n):
        writer.write(np.roll(base, 2 * k, axis=1))
    writer.release()
    return path


def hour_long_session(root: Path) -> str:
    """A session folder holding a synthetic one-hour log (25 fps, two people): the review page's worst case."""
    import json

    from ferops.apps import sessions
    from ferops.core.fer2013 import EMOTIONS

    meta = {"id": sessions.new_id(), "name": "one hour", "started": "2026-11-24T09:00:00+00:00", "names": {}}
    folder = sessions.create(root, meta)
    with open(folder / sessions.LOG, "w") as f:
        for i in range(25 * 3600):
            faces = [{"id": p, "box": [0, 0, 9, 9], "label": EMOTIONS[(i // 200 + p) % 7],
                      "confidence": 0.3 + 0.6 * ((i // 50) % 2), "probs": dict.fromkeys(EMOTIONS, 0.1)}
                     for p in range(2)]
            f.write(json.dumps({"frame": i, "t": i / 25, "faces": faces}) + "\n")
    return meta["id"]


def timed(urls: list[str], n: int) -> list[float]:
    out = []
    for k in range(n):
        start = time.perf_counter()
        with urllib.request.urlopen(urls[k % len(urls)], timeout=30) as r:
            r.read()
        out.append((time.perf_counter() - start) * 1000)
    return out


def describe(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=20)
    return f"p50 {statistics.median(ms):6.1f} ms  p95 {q[18]:6.1f} ms  max {max(ms):6.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-uri", default="models:/fer@production")
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--frames", type=int, default=1500)
    args = ap.parse_args()
    classifier, used = classifier_for(args.model_uri)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        short, long = video(tmp / "short.mp4", 50), video(tmp / "long.mp4", args.frames)
        with app_server(tmp / "sessions", classifier, DetectorWithTwoFaces) as (base, _):
            first = http("POST", f"{base}/api/sessions", {"source": str(short), "name": "reviewed"})[1]
            wait_done(base, first["id"])
            urls = [f"{base}/", f"{base}/api/sessions", f"{base}/sessions/{first['id']}"]
            timed(urls, 6)  # warm-up
            idle = timed(urls, args.requests)
            hour = hour_long_session(tmp / "sessions")
            first_hour = timed([f"{base}/sessions/{hour}"], 1)[0]
            urls.append(f"{base}/sessions/{hour}")
            running = http("POST", f"{base}/api/sessions", {"source": str(long), "name": "processing"})[1]
            time.sleep(1.0)
            before, start = http("GET", f"{base}/api/sessions/{running['id']}")[1]["live"]["frames"], time.monotonic()
            busy = timed(urls + [f"{base}/api/sessions/{running['id']}"], args.requests)
            state = http("GET", f"{base}/api/sessions/{running['id']}")[1]
            still = state["live"]["running"]
            frames = state["live"]["frames"]
            fps = (frames - before) / (time.monotonic() - start)
    out = Printed()
    out(f"model: {used}; {args.requests} requests over /, /api/sessions, a review page; when busy also a one-hour "
        "session's review page and the running session's live state")
    out(f"idle:                 {describe(idle)}")
    out(f"first load of a one-hour session's review (reads and summarises 90,000 lines; cached after): "
        f"{first_hour:.0f} ms")
    out(f"while processing:     {describe(busy)}  (session at frame {frames}, {fps:.0f} frames/s with 2 faces "
        f"each meanwhile, still running: {still})")
    p95 = statistics.quantiles(busy, n=20)[18]
    out(f"p95 while processing / idle: {p95 / statistics.quantiles(idle, n=20)[18]:.2f}x; "
        f"target p95 < 300 ms: {'met' if p95 < 300 and still else 'NOT met'}")
    write_results("app_responsiveness", out)


if __name__ == "__main__":
    main()
