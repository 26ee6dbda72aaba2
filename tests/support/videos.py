"""Video files made for a test: plain ones, one no frame of which decodes, and a writer that fails silently."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_video(path: Path, frames: list[np.ndarray], fps: float = 15.0) -> Path:
    """An mp4v video of 640x480 frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def undecodable_video(path: Path, n: int = 10) -> Path:
    """A valid mp4 container listing n frames whose data is all zeros: OpenCV opens it, decodes nothing."""
    data = bytearray(write_video(path, [np.full((480, 640, 3), 20 * k, np.uint8) for k in range(n)]).read_bytes())
    start, moov = data.index(b"mdat") + 4, data.index(b"moov") - 4
    assert start < moov, "mp4v writes the frames before the index"
    data[start:moov] = bytes(moov - start)
    path.write_bytes(data)
    return path


class SilentlyFailingWriter:
    """cv2.VideoWriter on a disk that fails its writes (a quota, an I/O error): opens, accepts every
    frame without complaint, and leaves a file nothing can play."""

    def __init__(self, path, *args):
        self.path = Path(path)
        self.path.write_bytes(b"\x00\x00\x00\x1cftypisom")

    def isOpened(self):
        return True

    def write(self, frame):
        pass

    def release(self):
        pass
