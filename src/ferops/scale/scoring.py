"""The workers' side of `ferops batch`: decode one frame range of a video and score every face in it.

Faces are found with the video finder `ferops webcam` uses (`runtime.faces.create(name, "video")`),
one new finder per range, started LEAD_FRAMES before it: by the range's first frame it follows the
faces as the webcam's finder, which saw every frame before, does, so batch and the webcam see the same
faces (docs/people.md#webcam-and-batch).

No tracking happens here: identities and smoothing need the frames in order, so they are a cheap
sequential pass over each whole video afterwards (`tables.track`). That keeps the expensive part,
decode + detect + classify, free to run on any worker in any order, and track ids come out exactly
as `ferops webcam` gives them, across range boundaries included.
"""

from __future__ import annotations

import cv2
import numpy as np

from ferops.core.fer2013 import EMOTIONS
from ferops.runtime.faces import DEFAULT_DETECTOR, Box, create
from ferops.runtime.pipeline import analyse

# Columns of one scored range, as the actors hand them back (arrays travel as raw bytes).
RANGE_COLUMNS = ("sha256", "start", "frames_read", "error", "frame", "box", "probs", "detector_confidence")


def score_frame(frame: np.ndarray, detector, classifier) -> tuple[list[Box], np.ndarray, np.ndarray]:
    """The one place batch calls the face detector and the classifier (as `ferops webcam` does, one
    batched model call per frame): boxes, (N, 7) probabilities, and the detector's confidence per box
    (NaN: the Haar cascade gives none)."""
    faces, probs = analyse(frame, detector, classifier)
    scores = np.array([np.nan if f.score is None else f.score for f in faces], np.float32)
    return [f.box for f in faces], probs, scores


def _seek(capture: cv2.VideoCapture, start: int) -> None:
    if start == 0:
        return
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != start:  # a container that cannot seek: decode up to it
        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        for _ in range(start):
            if not capture.grab():
                break


# A finder keeps state from frame to frame (the faces it follows), so one started at a range's first
# frame would find faces there a little differently from the finder that saw the frames before (the
# webcam's, or a whole-video one). It starts this many frames earlier instead, finding faces without
# scoring or reporting them: two of the finder's settling frames (video_faces.SETTLE_EVERY) and the
# few frames its snapped windows take after one, so that by the range's first frame it follows them as
# the other one does (measured: docs/people.md#webcam-and-batch).
LEAD_FRAMES = 60


def score_range(
    path: str, start: int, stop: int | None, every: int, detector, classifier, lead: int = LEAD_FRAMES
) -> dict:
    """Frames [start, stop) of the video (to its end when stop is None), every `every`-th frame by its
    number in the whole video, the detector given the `lead` frames before as well. Returns frames_read
    and, per face, its frame, box, probs and detector confidence, in frame order and, within a frame,
    in the detector's order."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise OSError(f"cannot open {path}")
    frames, boxes, probs, scores = [], [], [], []
    frame_no = start
    if hasattr(detector, "frame_no"):  # the video finder (other detectors see each frame afresh), on the
        frame_no = max(0, start - lead)  # schedule a finder given the whole video would be on there
        detector.frame_no = -(-frame_no // every)
    try:
        _seek(capture, frame_no)
        while stop is None or frame_no < stop:
            if frame_no % every:
                if not capture.grab():
                    break
            else:
                ok, image = capture.read()
                if not ok:
                    break
                if frame_no < start:
                    detector.detect(image)
                    frame_no += 1
                    continue
                b, p, s = score_frame(image, detector, classifier)
                frames += [frame_no] * len(b)
                boxes += b
                probs.append(p)
                scores.append(s)
            frame_no += 1
    finally:
        capture.release()
    return {
        "frames_read": max(0, frame_no - start),
        "frame": np.asarray(frames, np.int64),
        "box": np.asarray(boxes, np.int32).reshape(-1, 4),
        "probs": np.concatenate(probs).astype(np.float32) if probs else np.zeros((0, len(EMOTIONS)), np.float32),
        "detector_confidence": np.concatenate(scores) if scores else np.zeros(0, np.float32),
    }


class RangeScorer:
    """A Ray Data actor: loads the model and the detector once, then scores range after range.

    Each actor is given one CPU, so OpenCV and TensorFlow are held to one thread each: two actors on
    two cores then run side by side instead of fighting over both.
    """

    def __init__(
        self, model_uri: str, every: int, tracking_uri: str, detector: str = DEFAULT_DETECTOR, threads: int = 1
    ):
        import os

        import tensorflow as tf

        from ferops.registry.loading import load_classifier

        cv2.setNumThreads(threads)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already started in this worker: keep its settings
            pass
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri  # the driver's store, wherever this worker runs
        self.classifier = load_classifier(model_uri)
        create(detector, "video", background=False)  # an unknown name fails here, before any range is scored
        self.detector = detector
        self.every = every

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list] = {k: [] for k in RANGE_COLUMNS}
        for path, sha, start, stop in zip(batch["path"], batch["sha256"], batch["start"], batch["stop"]):
            try:
                # A finder keeps state between frames: a new one for each range, searched in this process.
                finder = create(self.detector, "video", background=False)
                r = score_range(
                    str(path), int(start), None if stop < 0 else int(stop), self.every, finder, self.classifier
                )
                error = ""
            except Exception as e:  # one bad range fails its video, never the whole run
                r = {"frames_read": 0, **empty_faces()}
                error = f"frames from {start}: {e.__class__.__name__}: {e}"
            out["sha256"].append(str(sha))
            out["start"].append(int(start))
            out["frames_read"].append(int(r["frames_read"]))
            out["error"].append(error)
            for k in ("frame", "box", "probs", "detector_confidence"):
                out[k].append(np.ascontiguousarray(r[k]).tobytes())
        return {
            k: np.asarray(v, dtype=object if k in ("frame", "box", "probs", "detector_confidence") else None)
            for k, v in out.items()
        }


def empty_faces() -> dict:
    return {
        "frame": np.zeros(0, np.int64),
        "box": np.zeros((0, 4), np.int32),
        "probs": np.zeros((0, len(EMOTIONS)), np.float32),
        "detector_confidence": np.zeros(0, np.float32),
    }


def decode_range(row: dict) -> dict:
    """An actor's output row -> the arrays `score_range` returned."""
    return {
        "start": int(row["start"]),
        "frames_read": int(row["frames_read"]),
        "error": str(row["error"]),
        "frame": np.frombuffer(row["frame"], np.int64),
        "box": np.frombuffer(row["box"], np.int32).reshape(-1, 4),
        "probs": np.frombuffer(row["probs"], np.float32).reshape(-1, len(EMOTIONS)),
        "detector_confidence": np.frombuffer(row["detector_confidence"], np.float32),
    }
