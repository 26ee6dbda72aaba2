"""Frames -> faces -> emotions, live: the engine behind `ferops webcam` and the session app.

decode -> detect (YuNet, followed between scans; Haar on request) -> one batched model call for all faces -> per-face
smoothing -> overlay -> window / page / video file / JSON-lines log.

Each log record's `t` is the time in the recording for a file or a finite stream (from the video's
timestamps), and seconds since the start for a camera or a live stream; `wall` is the wall-clock
time (UTC) at which the frame was processed.
"""

from __future__ import annotations

import io
import math
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from collections.abc import Callable

import cv2
import numpy as np

from ferops.runtime.classifier import EmotionClassifier
from ferops.runtime.faces import FaceDetector
from ferops.runtime.pipeline import analyse, face_record
from ferops.apps.overlay import draw
from ferops.recording.framelog import OutputError, write_record
from ferops.recording.tracker import MEMORY_S, PersonTracker, tracked_face
from ferops.recording.videosource import Source, SourceError
from ferops.runtime.video import SMOOTH_ALPHA


@dataclass
class Options:
    max_frames: int | None = None
    smooth: bool = True
    memory_s: float = MEMORY_S  # how long a lost person keeps her id (recording.tracker)
    retries: int = 3
    retry_wait_s: float = 0.5
    # Set from another thread or a signal handler: the run stops after the current frame and
    # finishes its outputs (playable video, complete log).
    stop: threading.Event = field(default_factory=threading.Event)


def face_records(
    frame: np.ndarray, detector: FaceDetector, classifier: EmotionClassifier, tracker: PersonTracker | None,
    t: float = 0.0,
) -> list[dict]:
    faces, probs = analyse(frame, detector, classifier)
    if tracker is not None:
        tracks = tracker.update([f.box for f in faces], probs, t)
        return [tracked_face(t, f.box, f.score, p) for t, f, p in zip(tracks, faces, probs)]
    return [face_record(f, p) for f, p in zip(faces, probs)]


def run(
    source: Source,
    detector: FaceDetector,
    classifier: EmotionClassifier,
    options: Options,
    log: TextIO | io.RawIOBase | None = None,
    writer_path: Path | None = None,
    show: Callable[[np.ndarray], bool] | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> int:
    """Processes frames until the source ends, `max_frames`, `options.stop`, or `show` returns False.
    Returns frames done.

    Each frame's log line is written and flushed before the next frame is read, so whatever stops
    the run, the log holds complete JSON lines for every frame processed. The annotated video is
    written to a temporary file beside `writer_path` and renamed there once finished (playable).
    OpenCV's writer never reports a failed write (a full disk): the run stops with an OutputError
    when the disk fills, or when the finished file does not hold the frames written, and the
    incomplete video keeps its temporary name.
    """
    tracker = PersonTracker(alpha=SMOOTH_ALPHA if options.smooth else 1.0, memory_s=options.memory_s)
    writer, written, video_failed, problem, ended = None, 0, False, None, False
    tmp_video = writer_path.with_name(f".{writer_path.stem}.partial{writer_path.suffix}") if writer_path else None
    start = time.monotonic()
    frame_no, fps, last = 0, None, start
    try:
        while (options.max_frames is None or frame_no < options.max_frames) and not options.stop.is_set():
            ok, frame = source.capture.read()
            if not ok:
                if source.finite:
                    _check_complete(source, frame_no)
                    if frame_no == 0 and source.kind == "file":
                        raise SourceError(f"{source.spec} is not a readable video (no frame of it can be decoded)")
                    break
                frame = _recover(source, options, frame_no)
            now = time.monotonic()
            t = round(_recording_time(source, frame_no) if source.finite else now - start, 4)
            faces = face_records(frame, detector, classifier, tracker, t)
            record = {
                "frame": frame_no,
                "t": t,
                "wall": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "faces": faces,
            }
            if log is not None:
                write_record(log, record)
            if on_record is not None:
                on_record(record)
            fps = 1.0 / max(now - last, 1e-6) if fps is None else 0.9 * fps + 0.1 / max(now - last, 1e-6)
            last = now
            draw(frame, faces, fps)
            if tmp_video is not None:
                if writer is None:
                    writer = _open_writer(tmp_video, frame, source)
                writer.write(frame)
                written += 1
                if _disk_full(tmp_video):
                    video_failed = True
                    raise OutputError(
                        f"cannot write the video {writer_path}: the disk is full (no space left in "
                        f"{tmp_video.parent}) after {written} frames; the incomplete video is left at {tmp_video}"
                    )
            frame_no += 1
            if show is not None and not show(frame):
                break
        ended = True
    finally:
        try:
            if writer is not None:
                writer.release()  # writes the mp4's index (moov): the file is playable from here on
                problem = None if video_failed else _unfinished(tmp_video, written)
                if problem is None and not video_failed:
                    os.replace(tmp_video, writer_path)
            source.capture.release()
            if problem is not None and ended:  # else the error under way says why
                raise OutputError(
                    f"cannot write the video {writer_path}: {problem}; the incomplete video is left at {tmp_video}"
                )
        finally:
            if hasattr(detector, "close"):  # a video finder's helper process (runtime.video_faces)
                detector.close()
    return frame_no


def _check_complete(source: Source, frame_no: int) -> None:
    """A finite stream that stops well short of its length dropped: say so (replaying it would be wrong).
    Files are not checked: a cut recording still gives what it holds, and counts are estimates."""
    count = source.capture.get(cv2.CAP_PROP_FRAME_COUNT)
    if source.kind == "stream" and count > 0 and frame_no < 0.9 * count - 5:
        raise SourceError(
            f"stream {source.spec} ended after {frame_no} of its {int(count)} frames (the connection dropped)"
        )


def _recording_time(source: Source, frame_no: int) -> float:
    """Seconds into the recording of the frame just read: its timestamp, else its number over the fps."""
    ms = source.capture.get(cv2.CAP_PROP_POS_MSEC)
    if math.isfinite(ms) and (ms > 0 or frame_no == 0):
        return ms / 1000.0
    fps = source.capture.get(cv2.CAP_PROP_FPS)
    return frame_no / fps if fps and math.isfinite(fps) and fps > 0 else float(frame_no)


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


def _disk_full(path: Path) -> bool:
    """No space left where the video is written: OpenCV's writer drops what it cannot write, silently."""
    try:
        st = os.statvfs(path.parent)
    except (AttributeError, OSError):  # no statvfs (Windows): the finished file is still checked
        return False
    blocks = st.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else st.f_bavail
    return st.f_blocks > 0 and blocks == 0


def _unfinished(path: Path, written: int) -> str | None:
    """Why the finished video file does not play back the frames written, or None when it does."""
    check = cv2.VideoCapture(str(path))
    try:
        if not check.isOpened() or not check.grab():
            return f"the file is unplayable after {written} frames (a write failed)"
        count = check.get(cv2.CAP_PROP_FRAME_COUNT)  # exact for mp4, from the duration for WebM
        if count > 0 and count < 0.9 * written - 1:
            return f"the file holds {int(count)} of the {written} frames written (a write failed)"
        return None
    finally:
        check.release()


def _open_writer(path: Path, frame: np.ndarray, source: Source) -> cv2.VideoWriter:
    fps = source.capture.get(cv2.CAP_PROP_FPS) or 25.0
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = "VP80" if path.suffix.lower() == ".webm" else "mp4v"  # WebM/VP8 plays in browsers
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*fourcc), fps if fps > 0 else 25.0, (frame.shape[1], frame.shape[0])
    )
    if not writer.isOpened():
        raise OutputError(f"cannot write video to {path}")
    return writer
