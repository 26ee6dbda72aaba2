"""Recordings to score: find them, fingerprint them, and cut each into frame ranges for the workers."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import cv2

from ferops.recording import videosource
from ferops.core.tracking import file_hash
from ferops.runtime.video import VIDEO_SUFFIXES


@dataclass(frozen=True)
class Video:
    path: str  # absolute: workers on other nodes open the same path (shared storage)
    sha256: str
    fps: float
    frames: int  # as the container reports it; 0 when unknown


@dataclass(frozen=True)
class Failure:
    video: str
    sha256: str
    reason: str


def expand(sources: list[str]) -> list[Path]:
    """Files as given (any suffix), folders searched for videos recursively, glob patterns; no duplicates."""
    found: list[Path] = []
    for spec in sources:
        path = Path(spec)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        elif glob.has_magic(spec):
            found += sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        else:
            found.append(path)  # a missing file is reported as that video's failure, not dropped
    seen: set[Path] = set()
    return [p for p in (q.absolute() for q in found) if not (p in seen or seen.add(p))]


def probe(path: Path) -> Video | Failure:
    """Opens the file the way `ferops webcam` does; a file it cannot read becomes a Failure with the reason."""
    sha = file_hash(path) if path.is_file() else ""
    try:
        source = videosource.open_source(str(path))
    except videosource.SourceError as e:
        return Failure(str(path), sha, str(e))
    try:
        fps = source.capture.get(cv2.CAP_PROP_FPS)
        frames = int(source.capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        source.capture.release()
    if not fps or fps != fps or fps <= 0:  # 0 or NaN: recording times cannot be known
        return Failure(str(path), sha, f"{path} reports no frame rate, so recording times cannot be computed")
    return Video(str(path), sha, float(fps), max(frames, 0))


def frame_ranges(video: Video, chunk_frames: int) -> list[tuple[int, int | None]]:
    """[start, stop) ranges of about `chunk_frames` frames; the last one is open (None) and reads to the end.

    Containers sometimes misreport their frame count: an open last range never loses the tail, and a
    range that starts past the real end simply yields no frames.
    """
    if video.frames <= chunk_frames:
        return [(0, None)]
    starts = list(range(0, video.frames, chunk_frames))
    return [(s, e) for s, e in zip(starts, starts[1:])] + [(starts[-1], None)]
