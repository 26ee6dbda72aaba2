"""The live view in a browser, for OpenCV builds without window support (opencv-python-headless).

`FrameHub` keeps the newest annotated frame as a JPEG for any number of MJPEG viewers (the session
app streams from it too). `LivePage` is the small local page `ferops webcam` opens: the annotated
video, and a Stop button (or q / Esc) that ends the run as cleanly as the end of the video.
Standard library only: it starts in milliseconds and binds to 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "ferops-frame"


class FrameHub:
    def __init__(self, quality: int = 80):
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self.closed = False
        self.quality = quality

    def publish(self, frame: np.ndarray) -> None:
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            with self._cond:
                self._jpeg, self._seq = buf.tobytes(), self._seq + 1
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def latest(self) -> bytes | None:
        with self._cond:
            return self._jpeg

    def frames(self, idle_timeout: float = 1.0) -> Iterator[bytes]:
        """Each new frame once (a slow viewer skips frames, never queues them), until the hub closes."""
        seen = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda s=seen: self._seq != s or self.closed, timeout=idle_timeout)
                if self._seq == seen:
                    if self.closed:
                        return
                    continue
                seen, jpeg = self._seq, self._jpeg
            yield jpeg

    def multipart(self) -> Iterator[bytes]:
        """The frames as parts of a multipart/x-mixed-replace (MJPEG) response body."""
        for jpeg in self.frames():
            yield (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                + jpeg
                + b"\r\n"
            )


def has_window() -> bool:
    """True when OpenCV can open a window here: a GUI backend in the build and, on Linux, a display."""
    if re.search(r"GUI:\s+NONE", cv2.getBuildInformation()):
        return False
    return sys.platform != "linux" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>ferops live</title>
<style>body{font-family:sans-serif;background:#222;color:#eee;text-align:center;margin:1em}
img{max-width:100%;border:1px solid #555}button{font-size:1.2em;padding:.4em 1.5em;margin:.6em}</style></head>
<body><h1>ferops live view</h1><img id="video" src="/stream" alt="annotated live video">
<div><button id="stop">Stop</button> <span id="state">running (q or Esc also stops)</span></div>
<script>
const state = document.getElementById('state');
function stop() {
  fetch('/stop', {method: 'POST', headers: {'X-Requested-With': 'ferops'}})
    .then(() => { state.textContent = 'stopped'; });
}
document.getElementById('stop').onclick = stop;
document.addEventListener('keydown', e => { if (e.key === 'q' || e.key === 'Escape') stop(); });
document.getElementById('video').onerror = () => { state.textContent = 'ended'; };
</script></body></html>
"""


# As `ferops app`: only this computer's own names reach the page (a rebinding DNS name cannot), and a
# change needs a header that another web site's page cannot send without CORS (a plain cross-site POST).
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def host_name(header: str | None) -> str:
    """A Host header's name without its port: '127.0.0.1:8000' -> '127.0.0.1', '[::1]:8000' -> '[::1]'."""
    host = (header or "").strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class LivePage:
    """Serves the page on 127.0.0.1 (port 0 = any free port) while the run goes on; `show` is live.run's."""

    def __init__(self, stop: threading.Event, port: int = 0):
        self.hub, self.stop = FrameHub(), stop
        page = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # the terminal is the user's: no access log
                pass

            def refuse(self, status: int, detail: str) -> None:
                body = (detail + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def allowed(self, change: bool) -> bool:
                if host_name(self.headers.get("Host")) not in LOCAL_HOSTS:
                    self.refuse(400, "invalid Host header: open the live view at " + page.url)
                    return False
                if change and self.headers.get("X-Requested-With") != "ferops":
                    self.refuse(403, "changes need the X-Requested-With: ferops header")
                    return False
                return True

            def do_GET(self):
                if not self.allowed(change=False):
                    return
                if self.path == "/":
                    body = PAGE.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path == "/stream":
                    self.send_response(200)
                    self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    try:
                        for part in page.hub.multipart():
                            self.wfile.write(part)
                            self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                else:
                    self.send_error(404)

            def do_POST(self):
                if not self.allowed(change=True):
                    return
                if self.path == "/stop":
                    page.stop.set()
                    self.send_response(204)
                    self.end_headers()
                else:
                    self.send_error(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LivePage:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.hub.close()
        self.server.shutdown()
        self.server.server_close()

    def show(self, frame: np.ndarray) -> bool:
        self.hub.publish(frame)
        return not self.stop.is_set()


def open_browser(url: str) -> bool:
    """Opens the default browser where there is a desktop; on a bare console (where Python's webbrowser
    would start a text browser in the user's terminal) it only says where the page is."""
    if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import webbrowser

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False
