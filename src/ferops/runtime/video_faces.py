"""Faces in consecutive video frames at live speed with a costly CNN detector.

YuNet finds faces of about 100-300 px best: a whole 640x480 frame is searched at full resolution for
faces from ~90 px, and in enlarged (2x) tiles for faces down to ~48 px; searching all of that on every
frame would cost several Haar passes. Frames of a video change little, so each frame:
- the faces found on the previous frame are searched again in a small window around where they were,
  resized so the face is about `follow_face` px: a real detection on every frame at a fraction of the
  cost, with hysteresis: there a detection counts from `follow_score` (0.4), while a new face
  anywhere needs the detector's own 0.5 (benchmarks/face_detection.py, two synthetic videos: +2.4
  and +3.2 points of recall for +0.013 and +0.023 false boxes a frame). Only faces detected on this
  frame are reported (a face that left, turned away or was covered is dropped at once, never
  extrapolated), so recall can be (and is, in benchmarks/face_detection.py) measured on every frame;
  a face missed on a frame (blur, a turn) is still searched for where it was on the next
  `keep_missed` frames before the scan has to find it again;
- every `scan_every` frames, one part of the full search runs: the whole frame at full resolution,
  then each enlarged tile in turn, so a face that appears is found within one cycle of parts
  (5 parts x scan_every frames), and the first frame of a video gets the whole search at once.

One finder per video stream: it keeps state between frames and is not for concurrent use.
"""

from __future__ import annotations

import numpy as np

from ferops.runtime.faces import (
    DEFAULT_DETECTOR,
    Face,
    FaceDetector,
    YuNetDetector,
    clip_box,
    iou,
    live_detector,
    make_detector,
)


class VideoFaceFinder:
    name = "yunet"

    def __init__(
        self,
        detector: YuNetDetector | None = None,
        scan_every: int = 3,
        follow_face: int = 128,
        window: float = 2.0,
        tile_zoom: float = 2.0,
        keep_missed: int = 3,
        follow_score: float = 0.4,
    ):
        self.detector = detector or YuNetDetector()
        self.scan_every, self.follow_face, self.window, self.tile_zoom = scan_every, follow_face, window, tile_zoom
        self.keep_missed, self.follow_score = keep_missed, follow_score
        self.known: list[tuple[Face, int]] = []  # where faces were last seen, and how many frames ago
        self.frame_no = 0

    def parts(self, width: int, height: int) -> list[tuple[tuple[int, int, int, int], float]]:
        """The full search as (region, zoom): the whole frame as is, then 2x2 overlapping tiles enlarged."""
        whole = ((0, 0, width, height), min(1.0, self.detector.max_side / max(width, height)))
        overlap = round(60 / whole[1])  # a face up to ~100 px (at the whole's zoom) lies inside one tile
        tw, th = width // 2 + overlap, height // 2 + overlap
        zoom = whole[1] * self.tile_zoom
        tiles = [((x, y, tw, th), zoom) for y in (0, height - th) for x in (0, width - tw)]
        return [whole, *tiles]

    def search_all(self, image: np.ndarray) -> list[Face]:
        """Every part of the full search on one image, no state: photos (`ferops predict`) and first frames."""
        height, width = image.shape[:2]
        rows = [self._search(image, region, zoom) for region, zoom in self.parts(width, height)]
        return _dedupe(self.detector.faces(np.concatenate(rows), width, height))

    def detect(self, frame: np.ndarray) -> list[Face]:
        height, width = frame.shape[:2]
        parts = self.parts(width, height)
        rows = []
        if self.frame_no == 0:
            searched = parts
        elif self.frame_no % self.scan_every == 0:
            searched = [parts[(self.frame_no // self.scan_every) % len(parts)]]
        else:
            searched = []
        for region, zoom in searched:
            rows.append(self._search(frame, region, zoom))
        for face, _ in self.known:
            rows.append(self._follow(frame, face.box))
        self.frame_no += 1
        found = _dedupe(self.detector.faces(np.concatenate(rows) if rows else np.zeros((0, 15)), width, height))
        missed = [
            (face, n + 1)
            for face, n in self.known
            if n < self.keep_missed and all(iou(face.box, f.box) < 0.3 for f in found)
        ]
        self.known = [(f, 0) for f in found] + missed
        return found

    def _follow(self, frame: np.ndarray, box) -> np.ndarray:
        """Detections in a window around a known face, resized so the face is about follow_face px."""
        height, width = frame.shape[:2]
        side = max(box[2], box[3]) * self.window
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        region = clip_box((cx - side / 2, cy - side / 2, side, side), width, height)
        return self._search(frame, region, self.follow_face / max(box[2], box[3], 1), self.follow_score)

    def _search(self, frame: np.ndarray, region, zoom: float, min_score: float | None = None) -> np.ndarray:
        x, y, w, h = region
        if w < 16 or h < 16:
            return np.zeros((0, 15))
        rows = self.detector.raw(frame[y : y + h, x : x + w], zoom=zoom, min_score=min_score)
        rows[:, [1, 5, 7, 9, 11, 13]] += x  # box x and every landmark's x
        rows[:, [2, 6, 8, 10, 12, 14]] += y
        return rows


def _dedupe(faces: list[Face], overlap: float = 0.4, inside: float = 0.6) -> list[Face]:
    """The same face found by a search part and by its window (or by two parts): keep the higher score.

    A box mostly inside a better one (`inside` of its area) is part of that face (YuNet sometimes
    scores a mouth-and-nose box inside a blurred face), not another face.
    """
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -(f.score or 0)):
        if all(iou(face.box, k.box) < overlap and _covered(face.box, k.box) < inside for k in kept):
            kept.append(face)
    return sorted(kept, key=lambda f: (f.box[1], f.box[0]))


def _covered(a, b) -> float:
    """The share of box a's area that lies inside box b."""
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / max(a[2] * a[3], 1)


class PhotoFaceFinder:
    """YuNet's full search (whole image, then enlarged tiles) on each image: faces down to ~48 px in a
    640x480 photo, at several times the cost of one pass; `ferops predict` uses it."""

    name = "yunet"

    def __init__(self):
        self.finder = VideoFaceFinder()

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.finder.search_all(image)


def photo_detector(name: str = DEFAULT_DETECTOR) -> FaceDetector:
    """The thorough detector for photo files by name: YuNet's full search, or Haar's photo settings."""
    if name == "yunet":
        return PhotoFaceFinder()
    return make_detector(name)


def video_detector(name: str = DEFAULT_DETECTOR) -> FaceDetector:
    """The detector for one video stream by name: YuNet with the schedule above, or Haar's live settings."""
    if name == "yunet":
        return VideoFaceFinder()
    if name == "haar":
        return live_detector()
    raise ValueError(f"unknown face detector {name!r}; choose yunet or haar")
