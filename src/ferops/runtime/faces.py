"""Face detection behind a small interface: YuNet (a CNN, the default) or OpenCV's Haar cascade.

Both ship inside their wheels and work offline: YuNet is libfacedetection's model compiled into the
`yuface` wheel (BSD-3-Clause, weights included), the Haar cascade comes with opencv-python(-headless) 4.x.
Every detector returns `Face`s whose box is already framed like FER-2013's faces (see `fer_box`), so
whatever crops a box gets what the classifier was trained on. `create(name, use)` is the one way from a
detector's name to a detector, for every caller (the CLI, the session app, `ferops batch`, the registered model).
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from ferops.core.errors import FerOpsError
from ferops.runtime.imaging import to_gray

Box = tuple[int, int, int, int]  # x, y, w, h in pixels

DETECTORS = ("yunet", "haar")
DEFAULT_DETECTOR = "yunet"


@dataclass(frozen=True)
class Face:
    box: Box  # FER-2013 framing, clipped to the image
    score: float | None  # the detector's confidence 0..1 (YuNet); None where it has none (Haar)


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[Face]: ...


def iou(a: Box, b: Box) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def covered(a: Box, b: Box) -> float:
    """The share of box a's area that lies inside box b."""
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / max(a[2] * a[3], 1)


def clip_box(box, width: int, height: int) -> Box:
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = min(width, int(round(box[0] + box[2]))), min(height, int(round(box[1] + box[3])))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


class HaarDetector:
    """Frontal-face Haar cascade shipped inside opencv-python(-headless) 4.x: works offline.

    OpenCV spreads one search over its own thread pool, and the boxes then depend on thread timing:
    under concurrent calls, even from separate instances, 20 of 96 answers differed from the
    sequential ones, and 1-2 of 96 still did with the calls serialised (measured). So the search runs
    single-threaded, one at a time in the process: the same image always gets the same boxes (the
    REST server runs requests on several threads; other requests still use the other core).
    """

    name = "haar"
    _lock = threading.Lock()

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 40, max_width: int = 640):
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade from {path}")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        # Detection cost grows with pixels; big photos are searched at this width and boxes scaled back.
        self.max_width = max_width

    def detect(self, image: np.ndarray) -> list[Face]:
        gray = to_gray(image)
        height, width = gray.shape
        scale = 1.0
        if gray.shape[1] > self.max_width:
            scale = gray.shape[1] / self.max_width
            size = (self.max_width, max(1, round(gray.shape[0] / scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        min_size = max(8, round(self.min_size / scale))
        if min(gray.shape) < min_size:
            return []
        with self._lock:
            threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
            try:
                found = self.cascade.detectMultiScale(
                    gray, self.scale_factor, self.min_neighbors, minSize=(min_size, min_size)
                )
            finally:
                cv2.setNumThreads(threads)
        # FER-2013's crops were framed by a Viola-Jones style detector: Haar boxes are used as they are.
        return [Face(clip_box([v * scale for v in box], width, height), None) for box in found]


@functools.cache
def _import_yuface():
    # yuface runs YuNet with its own bundled OpenMP runtime, which reads OMP_NUM_THREADS once, when it
    # loads. Spinning OpenMP workers next to TensorFlow's threads made it several times slower on 2
    # cores (docs/face-detection.md); one thread per call, and threads of the caller for parallelism,
    # is faster.
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import yuface
    finally:
        if saved is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    return yuface.c_detect


# FER-2013 framing from YuNet's five landmarks: a square centred between the eye midpoint and the
# mouth midpoint (shifted up by FER_UP of its side), with a side of FER_SIDE times their distance.
# Chosen by benchmarks/face_detection.py --framing (703 faces, a 0.49-accuracy model): side 2.1-2.3
# with up 0.05-0.1 scored best (0.29-0.30 on these hard synthetic faces; YuNet's own box 0.25, side
# 2.5-2.9 0.21-0.27); 2.3/0.05 is the least sensitive to the vertical shift of those.
FER_SIDE = 2.3
FER_UP = 0.05


def fer_box(landmarks: np.ndarray, side: float = FER_SIDE, up: float = FER_UP) -> tuple[float, float, float, float]:
    """YuNet landmarks (right eye, left eye, nose, right and left mouth corners as x, y) -> x, y, w, h."""
    pts = np.asarray(landmarks, np.float64).reshape(5, 2)
    eyes, mouth = pts[:2].mean(axis=0), pts[3:].mean(axis=0)
    size = side * float(np.hypot(*(mouth - eyes)))
    cx, cy = (eyes + mouth) / 2
    cy -= up * size
    return cx - size / 2, cy - size / 2, size, size


class YuNetDetector:
    """libfacedetection's YuNet CNN from the `yuface` wheel (BSD-3-Clause; weights compiled in, no download).

    Searches images at most `max_side` pixels on their long side (bounded time for any photo; faces
    smaller than about 12 px at that scale are not found) and keeps faces scoring >= `min_score`.
    """

    name = "yunet"

    def __init__(self, min_score: float = 0.5, max_side: int = 640):
        self._detect = _import_yuface()
        self.min_score, self.max_side = min_score, max_side
        self._lock = threading.Lock()  # the C++ library documents no thread safety

    def raw(self, image: np.ndarray, zoom: float | None = None, min_score: float | None = None) -> np.ndarray:
        """(N, 15) float rows: score 0..1, box x, y, w, h, 5 landmarks x, y; in `image`'s pixels.

        The image is searched resized by `zoom` (default: down to max_side on its long side); YuNet
        finds faces of about 100-300 px best, so small faces are worth searching enlarged.
        """
        bgr = _bgr(image)
        height, width = bgr.shape[:2]
        if zoom is None:
            zoom = min(1.0, self.max_side / max(height, width))
        zoom = min(zoom, 2 * self.max_side / max(height, width))  # bounded time whatever is asked
        if zoom != 1.0:
            size = (max(1, round(width * zoom)), max(1, round(height * zoom)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
        if min(bgr.shape[:2]) < 16:  # smaller than the network's smallest anchor: no face fits
            return np.zeros((0, 15))
        with self._lock:
            rows = self._detect(np.ascontiguousarray(bgr))[:, :15].astype(np.float64)
        rows = rows[rows[:, 0] >= (self.min_score if min_score is None else min_score) * 100]
        rows[:, 0] /= 100
        rows[:, 1:] /= zoom
        return rows

    def faces(self, rows: np.ndarray, width: int, height: int) -> list[Face]:
        out = []
        for row in rows:
            box = clip_box(fer_box(row[5:15]), width, height)
            if box[2] >= 8 and box[3] >= 8:
                out.append(Face(box, round(float(row[0]), 2)))
        return out

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.faces(self.raw(image), image.shape[1], image.shape[0])


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    gray = to_gray(image)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def crop(image: np.ndarray, box: Box, margin: float = 0.0) -> np.ndarray:
    """The box (grown by `margin` of its size) clipped to the image, never an empty or wrapped slice."""
    x, y, w, h = box
    dx, dy = int(w * margin), int(h * margin)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(image.shape[1], x + w + dx), min(image.shape[0], y + h + dy)
    return image[y0:y1, x0:x1]


def live_detector() -> HaarDetector:
    """The webcam's Haar settings: searched at 320 px width for faces of 60 px and up, in 15% scale steps.

    About half the time a frame of the photo defaults (docs/face-detection.md), for a few points of
    recall on hard, tightly cropped faces (FER-2013's); webcam faces are larger and more frontal.
    """
    return HaarDetector(scale_factor=1.15, min_size=60, max_width=320)


class UnknownDetector(FerOpsError, ValueError):
    """A face detector's name that is none of DETECTORS."""

    def __init__(self, name: str):
        super().__init__(f"unknown face detector {name!r}; choose one of {', '.join(DETECTORS)}")


# What a detector is for: each gets the detector built for it, whatever its name.
#   request: one pass over each image, bounded time: the registered model (REST requests, in-process predict);
#   photo:   the thorough search over each image: `ferops predict`;
#   video:   one stream, frame after frame (the webcam, the session app, `ferops batch`'s ranges).
USES = ("request", "photo", "video")


def create(name: str = DEFAULT_DETECTOR, use: str = "request", background: bool = True) -> FaceDetector:
    """The one way from a detector's name (yunet, haar) to a detector, for one of USES.

    YuNet: one YuNetDetector pass (request), the full search of runtime/video_faces.py (photo), or its
    video schedule (video; background=False searches its scan parts in this process: the same faces,
    frame for frame, without a helper process). Haar: the photo settings, or the webcam's (video).
    An unknown name raises UnknownDetector, the one wording for it everywhere.

    runtime/video_faces.py is app code that the registered model (request only) never runs: it is
    imported by name, when a photo or video detector is asked for, so that neither loading the model
    nor the pipeline's stages load it (tests/test_stage_deps.py, tests/test_faces.py check both).
    """
    if name not in DETECTORS:
        raise UnknownDetector(name)
    if use not in USES:
        raise ValueError(f"unknown detector use {use!r}; one of {', '.join(USES)}")
    if name == "haar":
        return live_detector() if use == "video" else HaarDetector()
    if use == "request":
        return YuNetDetector()
    video_faces = importlib.import_module("ferops.runtime.video_faces")
    return video_faces.PhotoFaceFinder() if use == "photo" else video_faces.VideoFaceFinder(background=background)
