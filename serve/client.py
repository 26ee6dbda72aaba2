"""A small client for the ferops REST endpoint (`mlflow models serve` / `ferops serve`).

python serve/client.py face.jpg [more.png ...] [--url http://127.0.0.1:5001] [--detect-faces]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path


def predict_images(
    images: list[bytes], url: str = "http://127.0.0.1:5001", detect_faces: bool = False, timeout: float = 30.0
) -> list[dict]:
    """PNG/JPEG bytes -> one dict per face: record, box, label, confidence, probs."""
    payload = {"dataframe_records": [{"image": base64.b64encode(b).decode("ascii")} for b in images]}
    if detect_faces:
        payload["params"] = {"detect_faces": True}
    return _post(url, payload, timeout)


def predict_pixels(pixels: list, url: str = "http://127.0.0.1:5001", timeout: float = 30.0) -> list[dict]:
    """Raw (N, 48, 48) pixel values 0..255 (nested lists) -> one dict per image."""
    return _post(url, {"inputs": pixels}, timeout)


def _post(url: str, payload: dict, timeout: float) -> list[dict]:
    request = urllib.request.Request(
        f"{url.rstrip('/')}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())["predictions"]
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        try:
            message = json.loads(body)["message"].splitlines()[-1]
        except (ValueError, KeyError, IndexError):
            message = body[:300]
        raise RuntimeError(f"HTTP {e.code}: {message}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:5001")
    parser.add_argument("--detect-faces", action="store_true", help="find faces in whole photos first")
    args = parser.parse_args()
    try:
        faces = predict_images([p.read_bytes() for p in args.images], args.url, args.detect_faces)
    except (OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for face in faces:
        print(f"{args.images[face['record']]}: {face['label']} ({face['confidence']:.0%}) box={face['box']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
