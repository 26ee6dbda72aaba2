"""One running session: live.run in a background thread, feeding the log, the live view and the live panel.

What the page shows while it runs (each person's current emotion, a rolling timeline) is kept here in
memory; what stays afterwards is only what `sessions` says is stored.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from pathlib import Path

from ferops.apps import live, sessions
from ferops.recording import framelog, videosource
from ferops.apps.live_page import FrameHub
from ferops.recording.summary import face_valence, shown_as
from ferops.core.errors import FerOpsError

ROLLING_S = 60.0  # the live panel's timeline shows the last minute


class SessionRunner:
    def __init__(self, folder: Path, source: videosource.Source, detector, classifier, save_video: bool, on_done=None,
                 memory_s: float | None = None):
        self.folder, self.source, self.on_done = folder, source, on_done
        self.detector, self.classifier = detector, classifier
        self.save_video = save_video
        self.options = live.Options() if memory_s is None else live.Options(memory_s=memory_s)
        self.hub = FrameHub()
        self._lock = threading.Lock()
        self._current: dict[str, dict] = {}
        self._recent: deque[tuple[float, str, str, float]] = deque()
        self.frames, self.t, self.first_t = 0, 0.0, None
        self.state, self.error = "running", None
        self._thread = threading.Thread(target=self._run, name=f"session-{folder.name}", daemon=True)

    def start(self) -> SessionRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.options.stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _on_record(self, rec: dict) -> None:
        with self._lock:
            self.frames, self.t = rec["frame"] + 1, rec["t"]
            self.first_t = rec["t"] if self.first_t is None else self.first_t
            self._current = {}
            for k, face in enumerate(rec["faces"]):
                pid = str(face.get("id", k))
                shown = shown_as(face["label"], face["confidence"])
                valence, sure = face_valence(face)
                valence = shown_as(valence, sure)
                self._current[pid] = {"label": shown, "confidence": face["confidence"], "valence": valence,
                                      "valence_confidence": sure}
                self._recent.append((rec["t"], pid, valence, sure))
            while self._recent and self._recent[0][0] < rec["t"] - ROLLING_S:
                self._recent.popleft()

    def _show(self, frame) -> bool:
        self.hub.publish(frame)
        return True

    def _run(self) -> None:
        started = time.monotonic()
        log = None
        try:
            log = framelog.open_log(self.folder / sessions.LOG)
            live.run(
                self.source,
                self.detector,
                self.classifier,
                self.options,
                log=log,
                writer_path=self.folder / sessions.ANNOTATED if self.save_video else None,
                show=self._show,
                on_record=self._on_record,
            )
            self.state = "stopped" if self.options.stop.is_set() else "finished"
        except FerOpsError as e:  # a source that drops, a video that cannot be written: said in one line
            self.state, self.error = "failed", str(e)
        except Exception as e:  # a bug: the session still records how it ended, and its traceback is printed
            self.state, self.error = "failed", f"{e.__class__.__name__}: {e}"
            traceback.print_exc()
        finally:
            if log is not None:
                log.close()
            self.hub.close()
            try:
                sessions.update_meta(
                    self.folder,
                    state=self.state,
                    error=self.error,
                    frames=self.frames,
                    duration_s=round(self.t - (self.first_t or 0.0), 3) if self.frames else 0.0,
                    processing_s=round(time.monotonic() - started, 3),
                    annotated_video=sessions.ANNOTATED if (self.folder / sessions.ANNOTATED).exists() else None,
                )
            except OSError as e:
                self.error = f"{self.error + '; ' if self.error else ''}could not update session.json: {e.strerror}"
            if self.on_done is not None:
                self.on_done(self.folder)

    def live_state(self) -> dict:
        """What the live panel draws: each person's current valence and emotion, and her valence over the
        last minute."""
        with self._lock:
            timeline: dict[str, list] = {}
            for t, pid, label, conf in self._recent:
                timeline.setdefault(pid, []).append([t, label, conf])
            return {
                "running": self.running,
                "state": self.state if not self.running else "running",
                "error": self.error,
                "frames": self.frames,
                "t": self.t,
                "current": dict(self._current),
                "timeline": timeline,
                "window_s": ROLLING_S,
            }
