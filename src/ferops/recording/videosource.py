"""Where frames come from: a camera, a stream or a video file, opened and checked (the webcam, the session
app and batch scoring all open their sources here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2

from ferops.core.errors import FerOpsError


class SourceError(FerOpsError, RuntimeError):
    """The video source cannot be opened, or dropped for good."""


@dataclass
class Source:
    spec: str
    capture: cv2.VideoCapture
    kind: str  # camera | stream | file
    # A file, or a stream of known length (a video file served over HTTP): its end is the end of the
    # session, never a drop to recover from by reopening (which would replay it from the start).
    finite: bool = False

    def reopen(self) -> bool:
        self.capture.release()
        self.capture = cv2.VideoCapture(int(self.spec) if self.kind == "camera" else self.spec)
        return self.capture.isOpened()


# OpenCV takes a camera index as a C int; a larger one is a typo, not a camera.
MAX_CAMERA_INDEX = 2**31 - 1


def is_camera(spec: str) -> bool:
    """A source given as a camera index: digits only."""
    return spec.isdecimal()


def open_source(spec: str) -> Source:
    """A camera index, a stream URL (rtsp://, http://...) or a video file."""
    if is_camera(spec):
        if len(spec) > len(str(MAX_CAMERA_INDEX)) or int(spec) > MAX_CAMERA_INDEX:
            shown = spec if len(spec) <= 24 else f"{spec[:20]}... ({len(spec)} digits)"
            raise SourceError(f"camera index {shown} is out of range: cameras are numbered 0 to {MAX_CAMERA_INDEX}")
        cap = cv2.VideoCapture(int(spec))
        if not cap.isOpened():
            raise SourceError(f"cannot open camera {spec} (is it connected and not in use?)")
        return Source(spec, cap, "camera")
    if "://" in spec:
        cap = cv2.VideoCapture(spec)
        if not cap.isOpened():
            raise SourceError(f"cannot open stream {spec}")
        return Source(spec, cap, "stream", finite=cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0)
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"video file not found: {spec}")
    if path.is_dir():
        raise SourceError(f"{spec} is a folder, not a video file")
    if looks_like_text(path):
        raise SourceError(f"{spec} is not a readable video (it is a text file)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened() or _fourcc(cap) in TEXT_CODECS or cap.get(cv2.CAP_PROP_FRAME_COUNT) <= 0 and not cap.grab():
        cap.release()
        raise SourceError(f"{spec} is not a readable video")
    if cap.get(cv2.CAP_PROP_POS_FRAMES) > 0:  # the probe above consumed a frame: rewind
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    if not _first_frame_decodes(path):  # a container with frames listed that none of decode
        cap.release()
        raise SourceError(f"{spec} is not a readable video (no frame of it can be decoded)")
    return Source(spec, cap, "file", finite=True)


def _first_frame_decodes(path: Path) -> bool:
    """Read with a capture of its own: the source's capture stays at the recording's start."""
    probe = cv2.VideoCapture(str(path))
    try:
        ok, frame = probe.read()
        return bool(ok) and frame is not None and frame.size > 0
    finally:
        probe.release()


# FFmpeg "plays" text files through its tty demuxer (ANSI art): never a recording.
TEXT_CODECS = {"ansi", "tty"}


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    return code.to_bytes(4, "little").decode("latin-1").strip("\x00 ").lower()


def looks_like_text(path: Path, probe: int = 4096) -> bool:
    """Video containers start with binary headers; a text file decodes as UTF-8 without NUL bytes.
    (YUV4MPEG2 is the one video format with a text header.)"""
    with open(path, "rb") as f:
        head = f.read(probe)
    if not head or head.startswith(b"YUV4MPEG2") or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3  # a multi-byte character cut by the probe's end is still text
    return True
