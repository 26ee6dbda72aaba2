"""Helpers for the session-app tests: the app served in-process, a detector with fixed faces, videos."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from support.processes import free_port

BOXES = [(40, 60, 160, 160), (400, 60, 160, 160)]


class TwoFixedFaces:
    """A face detector that always finds the same two faces: the tests check the app's plumbing and
    numbers against its own log, so which pixels hold a face does not matter (the model still reads them)."""

    name = "two fixed boxes (test)"

    def detect(self, image):
        from ferops.runtime.faces import Face

        return [Face(b, None) for b in BOXES]


LEVELS = (40, 240, 130)  # dark, bright, mid grey: sad, happy and uncertain to BrightnessClassifier


class BrightnessClassifier:
    """A stand-in emotion model with confident, known answers: a dark face is sad (0.9), a bright one
    happy (0.8), a mid-grey one unsure (0.4 at most). The app tests check that the pages show what the
    log holds; the real model's plumbing is tested with the real classifier elsewhere."""

    def classify_faces(self, crops):
        from ferops.core.fer2013 import EMOTIONS

        out = np.full((len(crops), len(EMOTIONS)), 0.0)
        for i, c in enumerate(crops):
            level = float(np.mean(c))
            label, top = ("sad", 0.9) if level < 90 else ("happy", 0.8) if level > 190 else ("neutral", 0.4)
            out[i] = (1 - top) / (len(EMOTIONS) - 1)
            out[i, EMOTIONS.index(label)] = top
        return out

    def probs(self, pixels):  # (N, 48, 48) model inputs, as runtime.pipeline hands them over
        return self.classify_faces(list(pixels))


def webm_video(path: Path, n: int, fps: float = 10.0) -> Path:
    """VP8 in WebM (plays in Chromium, unlike mp4v): two squares, each dark, bright or grey for 2.5 s in
    turn. Flat content, because VP8 encodes noise at ~0.2 s a frame on a loaded 2-core machine."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), fps, (640, 480))
    for k in range(n):
        frame = np.full((480, 640, 3), 150, np.uint8)
        for j, (x, y, w, h) in enumerate(BOXES):
            frame[y : y + h, x : x + w] = LEVELS[(k // 25 + j) % 3]
        cv2.putText(frame, str(k), (300, 400), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 3)
        writer.write(frame)
    writer.release()
    return path


# Mary sits at SEATS[0] for 5 s, is away for 1 s, and comes back to SEATS[2], across the room (a new
# track: the tracker only gives her id back where she was lost); John stays at SEATS[1] throughout.
SEATS = [(40, 60, 160, 160), (400, 60, 160, 160), (220, 300, 160, 160)]


def seat_of(k: int) -> list[int]:
    """Which seats hold a face on frame k of `moving_video`."""
    return ([0] if k < 50 else [2] if k >= 60 else []) + [1]


def moving_video(path: Path, n: int, fps: float = 10.0) -> Path:
    """VP8 in WebM, like `webm_video`, with the people of SEATS: faces dark, bright or grey in turn."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), fps, (640, 480))
    for k in range(n):
        frame = np.full((480, 640, 3), 150, np.uint8)
        for j in seat_of(k):
            x, y, w, h = SEATS[j]
            frame[y : y + h, x : x + w] = LEVELS[(k // 25 + j) % 3]
        writer.write(frame)
    writer.release()
    return path


class SeatedFaces:
    """A face detector that finds a face on each seat that is not the background's grey."""

    name = "seats (test)"

    def detect(self, image):
        from ferops.runtime.faces import Face

        seen = [b for b in SEATS if abs(float(np.mean(image[b[1] : b[1] + b[3], b[0] : b[0] + b[2]])) - 150) > 8]
        return [Face(b, None) for b in seen]


def long_video(path: Path, n: int, fps: float = 25.0) -> Path:
    """A long mp4v video, quick to write (for runs that are stopped before their end)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    base = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8), (31, 31), 0)
    for k in range(n):
        writer.write(np.roll(base, 3 * k, axis=1))
    writer.release()
    return path


def http(method: str, url: str, body=None, timeout: float = 30, headers: dict | None = None) -> tuple[int, object]:
    """A request as the app's own page sends it (with its X-Requested-With header, unless `headers` says)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    sent = {"X-Requested-With": "ferops", **({"Content-Type": "application/json"} if isinstance(body, dict) else {})}
    req = urllib.request.Request(url, data=data, method=method, headers=sent if headers is None else headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status, kind = r.read(), r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        raw, status, kind = e.read(), e.code, e.headers.get("Content-Type", "")
    return status, json.loads(raw) if "json" in kind else raw.decode(errors="replace")


@contextmanager
def app_server(root: Path, classifier, detector_factory=TwoFixedFaces, token: str | None = None, **options):
    import uvicorn

    from ferops.apps.session_app import create_app

    app = create_app(root, classifier, "models:/fer@production", "1", detector_factory, token, **options)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        for runner in app.state.runners.values():
            runner.stop()
        for runner in app.state.runners.values():
            runner.join(timeout=30)
        server.should_exit = True
        thread.join(timeout=30)


def wait_done(base: str, session_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, meta = http("GET", f"{base}/api/sessions/{session_id}")
        assert status == 200, meta
        if meta["live"] is None or not meta["live"]["running"]:
            return http("GET", f"{base}/api/sessions/{session_id}")[1]
        time.sleep(0.2)
    raise TimeoutError(f"session {session_id} still running after {timeout}s")


HOSTILE = '<img src=x onerror="document.title=\'pwned\'">'


def copied_sessions(root) -> tuple[str, str]:
    """Two session folders as copied from another computer: markup in every field, one whose id is not
    its folder's name."""
    from ferops.apps import sessions

    shown, foreign = "20250101-100000-cccc", "20250101-110000-dddd"
    sessions.create(root, {"id": shown, "name": HOSTILE, "started": HOSTILE, "duration_s": HOSTILE, "state": HOSTILE})
    sessions.create(root, {"id": foreign, "name": "foreign"})
    (root / foreign / "session.json").write_text(json.dumps({"id": f'x"><script>{HOSTILE}</script>', "name": "x"}))
    return shown, foreign
