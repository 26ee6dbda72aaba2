"""Frames -> faces -> emotions, live: the engine behind `ferops webcam`.

decode -> detect (YuNet, followed between scans; Haar on request) -> one batched model call for all faces -> per-face
smoothing -> overlay -> window / video file / JSON-lines log.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from collections.abc import Callable

import cv2
import numpy as np

from ferops.runtime.classifier import EmotionClassifier, describe
from ferops.runtime.faces import FaceDetector
from ferops.runtime.pipeline import analyse, face_record
from ferops.apps.overlay import draw
from ferops.apps.smoothing import FaceTracker


class SourceError(RuntimeError):
    """The video source cannot be opened, or dropped for good."""


@dataclass
class Source:
    spec: str
    capture: cv2.VideoCapture
    kind: str  # camera | stream | file

    def reopen(self) -> bool:
        self.capture.release()
        self.capture = cv2.VideoCapture(int(self.spec) if self.kind == "camera" else self.spec)
        return self.capture.isOpened()


def open_source(spec: str) -> Source:
    """A camera index, a stream URL (rtsp://, http://...) or a video file."""
    if spec.isdigit():
        cap = cv2.VideoCapture(int(spec))
        if not cap.isOpened():
            raise SourceError(f"cannot open camera {spec} (is it connected and not in use?)")
        return Source(spec, cap, "camera")
    if "://" in spec:
        cap = cv2.VideoCapture(spec)
        if not cap.isOpened():
            raise SourceError(f"cannot open stream {spec}")
        return Source(spec, cap, "stream")
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"video file not found: {spec}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened() or cap.get(cv2.CAP_PROP_FRAME_COUNT) <= 0 and not cap.grab():
        cap.release()
        raise SourceError(f"{spec} is not a readable video")
    if cap.get(cv2.CAP_PROP_POS_FRAMES) > 0:  # the probe above consumed a frame: rewind
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return Source(spec, cap, "file")


@dataclass
class Options:
    max_frames: int | None = None
    smooth: bool = True
    retries: int = 3
    retry_wait_s: float = 0.5


def face_records(
    frame: np.ndarray, detector: FaceDetector, classifier: EmotionClassifier, tracker: FaceTracker | None
) -> list[dict]:
    faces, probs = analyse(frame, detector, classifier)
    if tracker is not None:
        tracks = tracker.update([f.box for f in faces], probs)
        return [
            {"id": t.id, **face_record(f, t.probs), "raw_label": describe(p)["label"]}
            for t, f, p in zip(tracks, faces, probs)
        ]
    return [face_record(f, p) for f, p in zip(faces, probs)]


def run(
    source: Source,
    detector: FaceDetector,
    classifier: EmotionClassifier,
    options: Options,
    log: TextIO | None = None,
    writer_path: Path | None = None,
    show: Callable[[np.ndarray], bool] | None = None,
) -> int:
    """Processes frames until the source ends, `max_frames`, or `show` returns False. Returns frames done.

    Each frame's log line is written and flushed before the next frame is read, so whatever stops
    the run, the log holds complete JSON lines for every frame processed.
    """
    tracker = FaceTracker(alpha=0.4) if options.smooth else FaceTracker(alpha=1.0)
    writer = None
    start = time.monotonic()
    frame_no, fps, last = 0, None, start
    try:
        while options.max_frames is None or frame_no < options.max_frames:
            ok, frame = source.capture.read()
            if not ok:
                if source.kind == "file":
                    break
                frame = _recover(source, options, frame_no)
            faces = face_records(frame, detector, classifier, tracker)
            now = time.monotonic()
            record = {"frame": frame_no, "t": round(now - start, 4), "faces": faces}
            if log is not None:
                log.write(json.dumps(record) + "\n")
                log.flush()
            fps = 1.0 / max(now - last, 1e-6) if fps is None else 0.9 * fps + 0.1 / max(now - last, 1e-6)
            last = now
            draw(frame, faces, fps)
            if writer_path is not None:
                if writer is None:
                    writer = _open_writer(writer_path, frame, source)
                writer.write(frame)
            frame_no += 1
            if show is not None and not show(frame):
                break
    finally:
        if writer is not None:
            writer.release()
        source.capture.release()
    return frame_no


def _recover(source: Source, options: Options, frame_no: int) -> np.ndarray:
    for _ in range(options.retries):
        time.sleep(options.retry_wait_s)
        if source.reopen():
            ok, frame = source.capture.read()
            if ok:
                return frame
    raise SourceError(
        f"{source.kind} {source.spec} dropped after {frame_no} frames; gave up after {options.retries} retries"
    )


def _open_writer(path: Path, frame: np.ndarray, source: Source) -> cv2.VideoWriter:
    fps = source.capture.get(cv2.CAP_PROP_FPS) or 25.0
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps if fps > 0 else 25.0, (frame.shape[1], frame.shape[0])
    )
    if not writer.isOpened():
        raise SourceError(f"cannot write video to {path}")
    return writer
