"""The REST server as the tests and benchmarks talk to it: requests, the photos they send, its memory."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np


def post(url: str, payload) -> tuple[int, dict]:
    """POST a JSON payload (or raw bytes) to url's /invocations: (status, parsed body)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    req = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def records(*images: str) -> dict:
    """A dataframe_records request body of base64 images."""
    return {"dataframe_records": [{"image": i} for i in images]}


def hopper_photos() -> list[np.ndarray]:
    """Four different photos made from the portrait matplotlib ships: one to three faces, placed differently."""
    import matplotlib

    hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    face = hopper[40:330, 120:400]
    layouts = [
        [(40, 60, 180)],
        [(300, 40, 150), (60, 220, 130)],
        [(420, 250, 120)],
        [(30, 30, 110), (250, 150, 140), (460, 60, 120)],
    ]
    photos = []
    for k, layout in enumerate(layouts):
        rng = np.random.default_rng(k)
        photo = cv2.GaussianBlur(rng.integers(40, 200, (480, 640, 3), dtype=np.uint8), (0, 0), 6)
        for x, y, w in layout:
            h = round(w * face.shape[0] / face.shape[1])
            photo[y : y + h, x : x + w] = cv2.resize(face, (w, h), interpolation=cv2.INTER_AREA)
        photos.append(photo)
    return photos


def server_rss(url: str) -> int:
    """Resident memory of the serving processes (the mlflow CLI and its uvicorn worker) on url's port."""
    import psutil

    port = url.rsplit(":", 1)[1]
    procs = [p for p in psutil.process_iter(["cmdline"]) if port in " ".join(p.info["cmdline"] or [])]
    return sum(p.memory_info().rss for p in procs)
