"""Faces in consecutive video frames at live speed with a costly CNN detector.

YuNet finds faces of about 100-300 px best: a whole 640x480 frame is searched at full resolution for
faces from ~90 px, and in enlarged (1.6x) tiles for faces down to ~48 px; searching all of that on
every frame would cost several Haar passes. Frames of a video change little, so:
- every `detect_every`-th frame, the faces known from the frames before are searched again in a small
  window around where they were, resized so the face is about `follow_face` px: a real detection at a
  fraction of the cost, with hysteresis: there a detection counts from `follow_score` (0.4), while a
  new face anywhere needs the detector's own 0.5;
- on the frames between, a face found on the frame before is followed by matching its pixels (where
  YuNet last found it) around where it was; a poor match (it turned, left, was covered) sends that
  face to YuNet's window on that frame instead (a followed face keeps the confidence of its last
  detection). So every face reported lies where the frame shows it, never extrapolated, and
  recall is measured on every frame (benchmarks/face_detection.py);
- a face missed on a frame (blur, a turn) is still searched for where it was on the next
  `keep_missed` frames before the scan has to find it again;
- every `scan_every` frames, one part of the full search starts on that frame: the whole frame at
  full resolution, then each enlarged tile in turn. Its faces are looked for `scan_every` frames
  later, in a window around where the part found them: a face that appears is found within one cycle
  of parts plus `scan_every` frames (5 x scan_every + scan_every). The first frame of a video, and the
  first after a cut, get the whole search at once.

The parts cost more than all the windows together (a whole 640x480 search costs several windows'
time), and yuface holds Python's GIL while it searches, so a thread cannot overlap
them. With `background=True` (the webcam) a part runs in one helper process, on the other core,
while this process follows faces and classifies the frames in between. Its result is picked up at a
fixed frame, waiting for it if need be, so the faces found are the same, frame for frame, as with the
part searched in this process (`background=False`): a recording gives the same log however loaded
the machine is.

The settings were chosen with benchmarks/face_detection.py (its recall video, seeds 0 and 1; --fps):
tiles at 1.6x instead of 2x found more faces for fewer pixels; a part every 4 frames instead of 3 and
YuNet on every 3rd frame instead of every frame kept recall and made the webcam path much faster
(the figures: docs/face-detection.md).

One finder per video stream: it keeps state between frames and is not for concurrent use; `close()`
ends its helper process (`apps.live.run` does at the end of a stream).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import threading
import time
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import shared_memory
from typing import NamedTuple

import cv2
import numpy as np

from ferops.runtime.imaging import to_gray
from ferops.runtime.faces import Face, YuNetDetector, clip_box, covered, iou


# A cut (an edited recording, another camera): the mean absolute difference of 64x48 grey thumbnails of
# consecutive frames, 0-255. Measured on benchmarks/face_detection.py's clips: at most 1.0 between frames
# of one scene, 20-107 across cuts. 16 leaves room for a camera's noise and people moving (no real
# recording was measured); a false cut costs one whole search, a missed one a few frames of delay.
CUT = 16


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(to_gray(frame), (64, 48), interpolation=cv2.INTER_AREA).astype(np.int16)


class _Known(NamedTuple):
    face: Face  # where it was last seen
    missed: int  # on how many frames since
    template: np.ndarray  # its grey pixels where YuNet last found it, TEMPLATE px square
    scale: int = 0  # which of FOLLOW_SCALES its window is searched at


# YuNet's score for one face changes a lot with the scale it is searched at (an upscaled, blurred face
# can score 0 at one and 0.7 at another): a window that misses a known face is searched at the next
# of these (times follow_face) on the next frame, and a face keeps the scale that last found it.
FOLLOW_SCALES = (1.0, 1.375, 0.75)

# Which scale a face keeps depends on every frame before, so a finder started in the middle of a
# recording (each of `ferops batch`'s ranges) can follow a face at another scale than the finder that
# saw it from the first frame (`ferops webcam`), and find it a few pixels apart for good. Every
# SETTLE_EVERY frames of the stream, by frame number, each known face is searched at the scales in
# order until one finds it: then the scale depends only on where the face is, and the two finders
# follow it alike from there on (docs/people.md#webcam-and-batch).
SETTLE_EVERY = 30


# A known face's window is snapped: its centre to a GRID px grid, its size to one of SIZE_STEPS sizes
# an octave. Two finders that saw a face a pixel apart then search the same window and find the same
# box, so a finder started in the middle of a recording (each of `ferops batch`'s ranges) follows the
# faces exactly as the one started at its first frame (`ferops webcam`) does a few frames after both
# search them at one scale (SETTLE_EVERY); unsnapped, the two met only when a face was lost and found
# again, seconds later (docs/people.md#webcam-and-batch).
GRID = 8
SIZE_STEPS = 8

# Between detections a face is followed by normalised cross-correlation of its last detection's pixels
# (TEMPLATE px square) within TRACK_MARGIN of its side around where it was; a match below TRACK_MIN
# (a face that turned, left or was covered) is searched for with YuNet on that frame instead.
TEMPLATE = 32
TRACK_MARGIN = 0.25
TRACK_MIN = 0.85


def _template(gray: np.ndarray, box) -> np.ndarray:
    x, y, w, h = box
    return cv2.resize(gray[y : y + h, x : x + w], (TEMPLATE, TEMPLATE), interpolation=cv2.INTER_AREA)


def _track(gray: np.ndarray, known: _Known) -> _Known | None:
    """Where the known face is on this frame by its template, or None where the match is poor."""
    height, width = gray.shape
    x, y, w, h = known.face.box
    margin = TRACK_MARGIN * max(w, h)
    rx, ry, rw, rh = clip_box((x - margin, y - margin, w + 2 * margin, h + 2 * margin), width, height)
    sx, sy = TEMPLATE / max(w, 1), TEMPLATE / max(h, 1)
    size = (round(rw * sx), round(rh * sy))
    if size[0] <= TEMPLATE or size[1] <= TEMPLATE:  # no room to move (a face cut by the frame's edge)
        return None
    patch = cv2.resize(gray[ry : ry + rh, rx : rx + rw], size, interpolation=cv2.INTER_AREA)
    _, best, _, (bx, by) = cv2.minMaxLoc(cv2.matchTemplate(patch, known.template, cv2.TM_CCOEFF_NORMED))
    if best < TRACK_MIN:
        return None
    box = clip_box((rx + bx / sx, ry + by / sy, w, h), width, height)
    return _Known(Face(box, known.face.score), 0, known.template, known.scale)


class VideoFaceFinder:
    name = "yunet"

    def __init__(
        self,
        detector: YuNetDetector | None = None,
        scan_every: int = 4,
        follow_face: int = 128,
        window: float = 2.0,
        tile_zoom: float = 1.6,
        keep_missed: int = 3,
        follow_score: float = 0.4,
        detect_every: int = 3,
        background: bool = False,
    ):
        self.detector = detector or YuNetDetector()
        self.background = background
        self._helper: ProcessPoolExecutor | None = None
        self._scan: tuple[Future, tuple] | None = None  # the part started scan_every frames ago, and its input
        self._thumb: np.ndarray | None = None  # the last frame, tiny: a cut is looked for against it
        self._size: tuple[int, int] | None = None  # and its size: another size is another stream
        self.scan_every, self.follow_face, self.window, self.tile_zoom = scan_every, follow_face, window, tile_zoom
        self.keep_missed, self.follow_score, self.detect_every = keep_missed, follow_score, detect_every
        self.known: list[_Known] = []  # where faces were last seen
        # The stream's number of the next frame. A finder given a recording from the middle on (each of
        # `ferops batch`'s ranges) is set to that frame's number first, so that it searches on the
        # frames, and the parts, that a finder given the recording from its first frame does.
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
        gray = to_gray(frame)
        thumb, last = _thumbnail(gray), self._thumb
        self._thumb, resized = thumb, (height, width) != self._size
        self._size = height, width
        rows, tracked = [], []
        if last is None or resized or np.abs(thumb - last).mean() > CUT:
            self.known, self._scan = [], None  # a new scene: what was known and being searched is gone
            if self.background and self._helper is None:
                self._start_helper()  # starts while this process does the whole search
            rows += [self._search(frame, region, zoom) for region, zoom in self.parts(width, height)]
        elif self.frame_no % self.scan_every == 0:
            seeds = self._seeds()
            parts = self.parts(width, height)
            self._scan = self._start(frame, *parts[(self.frame_no // self.scan_every) % len(parts)])
            for face in self.detector.faces(seeds, width, height):  # faces new to the follower
                if all(iou(face.box, known.face.box) < 0.3 for known in self.known):
                    rows.append(self._follow(frame, face.box))
        settle = self.frame_no % SETTLE_EVERY == 0
        between = not settle and self.frame_no % self.detect_every != 0
        for i, known in enumerate(self.known):
            moved = _track(gray, known) if between and known.missed == 0 else None
            if moved is not None:
                tracked.append(moved)
            elif settle:
                found, self.known[i] = self._settle(frame, known)
                rows.append(found)
            else:
                rows.append(self._follow(frame, known.face.box, FOLLOW_SCALES[known.scale]))
        self.frame_no += 1
        detected = self.detector.faces(np.concatenate(rows) if rows else np.zeros((0, 15)), width, height)
        templates = {id(t.face): t.template for t in tracked}  # a tracked face keeps its detection's
        found = _dedupe(detected + [t.face for t in tracked])
        missed = [
            _Known(k.face, k.missed + 1, k.template, (k.scale + 1) % len(FOLLOW_SCALES))
            for k in self.known
            if k.missed < self.keep_missed and all(iou(k.face.box, f.box) < 0.3 for f in found)
        ]
        fresh = [
            _Known(f, 0, templates[id(f)] if id(f) in templates else _template(gray, f.box), self._scale_of(f))
            for f in found
        ]
        self.known = fresh + missed
        return found

    def close(self) -> None:
        """Ends the helper process, if one runs; a later detect() starts another."""
        if self._helper is not None:
            self._helper.shutdown(cancel_futures=True)
        self._helper = self._scan = None

    def _seeds(self) -> np.ndarray:
        """The rows of the part started scan_every frames ago (waiting for the helper if need be)."""
        if self._scan is None:
            return np.zeros((0, 15))
        result, part = self._scan
        try:
            return result.result()
        except Exception as e:  # noqa: BLE001 -- whatever broke the helper, the part is searched here
            self._give_up_helper(e)
            return _in_frame(self.detector, *part)

    def _give_up_helper(self, e: Exception) -> None:
        # One line, then the same search in this process: slower, never fewer faces or a stopped session.
        warnings.warn(f"face search helper process failed ({e!r}); searching in this process", stacklevel=3)
        self.close()
        self.background = False

    def _start(self, frame: np.ndarray, region, zoom: float) -> tuple[Future, tuple]:
        x, y, w, h = region
        # A copy: kept until the part is picked up (and searched here if the helper fails), when the
        # caller may have read the next frames into the same buffer.
        part = (np.array(frame[y : y + h, x : x + w], order="C"), (x, y), zoom)
        if self.background:
            try:
                # The helper builds its own YuNetDetector with this one's min_score and max_side.
                detector = (self.detector.min_score, self.detector.max_side)
                # The pixels go through shared memory, only their name through the pool's pipe: a part
                # (hundreds of KB) written into that pipe while the helper dies blocks the pool's feeder
                # thread for good, and closing the pool then hangs (CPython gh-94777: Debian 12's Python 3.11.2 has it).
                shared = shared_memory.SharedMemory(create=True, size=max(1, part[0].nbytes))
                np.ndarray(part[0].shape, part[0].dtype, buffer=shared.buf)[...] = part[0]
                pixels = (shared.name, part[0].shape, part[0].dtype.str)
                future = self._workers().submit(_search_part, detector, pixels, *part[1:])
                future.add_done_callback(lambda _, shared=shared: _free(shared))  # searched, failed or cancelled
                return future, part
            except Exception as e:  # noqa: BLE001 -- no helper (no processes here, out of memory): search here
                self._give_up_helper(e)
        done: Future = Future()
        done.set_result(_in_frame(self.detector, *part))
        return done, part

    def _start_helper(self) -> None:
        try:
            self._workers().submit(_helper_detector, self.detector.min_score, self.detector.max_side)
        except Exception as e:  # noqa: BLE001 -- see _start
            self._give_up_helper(e)

    def _workers(self) -> ProcessPoolExecutor:
        if self._helper is None:
            # spawn: the parent holds TensorFlow's threads, which a forked child must not inherit. The
            # helper ignores SIGINT: Ctrl-C in a terminal reaches the whole process group, and the
            # webcam's own handler stops the run cleanly, closing the helper after the last frame. It
            # ends itself when this process dies without closing it (killed: see _helper_start).
            self._helper = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_helper_start,
                initargs=(os.getpid(),),
            )
        return self._helper

    def _scale_of(self, face: Face) -> int:
        """The window scale of the known face this one is (the one it overlaps most), else the first."""
        best = max(self.known, key=lambda k: iou(face.box, k.face.box), default=None)
        return best.scale if best is not None and iou(face.box, best.face.box) >= 0.3 else 0

    def _settle(self, frame: np.ndarray, known: _Known) -> tuple[np.ndarray, _Known]:
        """A known face's window searched at FOLLOW_SCALES in order until one finds it (see SETTLE_EVERY):
        its rows, and the face with that scale (the last one where none does: the next frame tries the first)."""
        height, width = frame.shape[:2]
        for scale, zoom in enumerate(FOLLOW_SCALES):
            rows = self._follow(frame, known.face.box, zoom)
            if any(iou(f.box, known.face.box) >= 0.3 for f in self.detector.faces(rows, width, height)):
                return rows, known._replace(scale=scale)
        return np.zeros((0, 15)), known._replace(scale=len(FOLLOW_SCALES) - 1)

    def _follow(self, frame: np.ndarray, box, scale: float = 1.0) -> np.ndarray:
        """Detections in a window around a known face, resized so the face is about scale x follow_face px."""
        height, width = frame.shape[:2]
        side = 2 ** (round(np.log2(max(box[2], box[3], 1)) * SIZE_STEPS) / SIZE_STEPS)
        cx = round((box[0] + box[2] / 2) / GRID) * GRID
        cy = round((box[1] + box[3] / 2) / GRID) * GRID
        region = clip_box((cx - side * self.window / 2, cy - side * self.window / 2) + (side * self.window,) * 2,
                          width, height)
        return self._search(frame, region, scale * self.follow_face / side, self.follow_score)

    def _search(self, frame: np.ndarray, region, zoom: float, min_score: float | None = None) -> np.ndarray:
        x, y, w, h = region
        return _in_frame(self.detector, frame[y : y + h, x : x + w], (x, y), zoom, min_score)


def _in_frame(detector: YuNetDetector, crop: np.ndarray, origin, zoom: float, min_score: float | None = None):
    """YuNet's rows for a crop of a frame, in the frame's pixels."""
    if crop.shape[0] < 16 or crop.shape[1] < 16:
        return np.zeros((0, 15))
    rows = detector.raw(crop, zoom=zoom, min_score=min_score)
    rows[:, [1, 5, 7, 9, 11, 13]] += origin[0]  # box x and every landmark's x
    rows[:, [2, 6, 8, 10, 12, 14]] += origin[1]
    return rows


def _helper_start(parent: int) -> None:
    """In the helper process, first: ignore SIGINT, and end when the parent dies (SIGKILL, a crash: it never
    closes the pool, and the helper, blocked on a queue whose write end it holds itself, would wait for
    good). A thread watching the parent's pid: unlike PR_SET_PDEATHSIG it follows the process, not the
    thread that happened to start the helper."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@functools.cache
def _helper_detector(min_score: float, max_side: int) -> YuNetDetector:
    return YuNetDetector(min_score, max_side)


def _search_part(detector: tuple[float, int], pixels: tuple, origin, zoom: float) -> np.ndarray:
    """In the helper process: one part of the full search (see VideoFaceFinder), its pixels in shared memory."""
    name, shape, dtype = pixels
    shared = shared_memory.SharedMemory(name=name)
    try:
        crop = np.ndarray(shape, dtype, buffer=shared.buf).copy()
    finally:
        shared.close()
    return _in_frame(_helper_detector(*detector), crop, origin, zoom)


def _free(shared: shared_memory.SharedMemory) -> None:
    shared.close()
    try:
        shared.unlink()
    except FileNotFoundError:  # already gone
        pass


def _dedupe(faces: list[Face], overlap: float = 0.4, inside: float = 0.6) -> list[Face]:
    """The same face found by a search part and by its window (or by two parts): keep the higher score.

    A box mostly inside a better one (`inside` of its area) is part of that face (YuNet sometimes
    scores a mouth-and-nose box inside a blurred face), not another face; a box that holds a better one
    mostly inside it is that face with its surroundings (YuNet sometimes frames one FER-2013 face both
    at 107 and at 175 px), not another face around it: faces do not sit inside faces.
    """
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -(f.score or 0)):
        if all(
            iou(face.box, k.box) < overlap and covered(face.box, k.box) < inside and covered(k.box, face.box) < inside
            for k in kept
        ):
            kept.append(face)
    return sorted(kept, key=lambda f: (f.box[1], f.box[0]))


class PhotoFaceFinder:
    """YuNet's full search (whole image, then enlarged tiles) on each image: faces down to ~48 px in a
    640x480 photo, at several times the cost of one pass; `ferops predict` uses it."""

    name = "yunet"

    def __init__(self):
        self.finder = VideoFaceFinder()

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.finder.search_all(image)
