"""Faces on frames for the tests: a drawn face any detector finds, and real FER-2013 faces placed on a
plain background (only those the detectors find, so a test measures what it means to)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from support.data import real_faces

SPOTS = [(60, 120), (380, 120)]  # top-left corners of 180x180 face placements in 640x480


def cartoon_face(size: int = 200, shift: int = 0) -> np.ndarray:
    """A drawn face (oval, brows, eyes, nose, mouth) that OpenCV's Haar cascade finds: no real face needed."""
    img = np.full((480, 640, 3), 40, np.uint8)
    cx, cy = 320 + shift, 240
    cv2.ellipse(img, (cx, cy), (int(size * 0.42), int(size * 0.55)), 0, 0, 360, (190, 190, 190), -1)
    for dx in (-1, 1):
        eye = (cx + dx * int(size * 0.18), cy - int(size * 0.12))
        cv2.ellipse(img, eye, (int(size * 0.10), int(size * 0.05)), 0, 0, 360, (50, 50, 50), -1)
        brow = (
            (cx + dx * int(size * 0.08), cy - int(size * 0.22)),
            (cx + dx * int(size * 0.28), cy - int(size * 0.24)),
        )
        cv2.line(img, *brow, (60, 60, 60), int(size * 0.03))
    cv2.line(img, (cx, cy - int(size * 0.05)), (cx, cy + int(size * 0.12)), (150, 150, 150), 3)
    cv2.ellipse(img, (cx, cy + int(size * 0.25)), (int(size * 0.15), int(size * 0.05)), 0, 0, 360, (80, 80, 80), -1)
    return cv2.GaussianBlur(img, (9, 9), 3)


def compose(faces: list[np.ndarray], shift: int = 0) -> np.ndarray:
    """A 640x480 frame with each face enlarged to 180x180 at its place in SPOTS, shifted right by `shift`."""
    frame = np.full((480, 640, 3), 200, np.uint8)
    for face, (x, y) in zip(faces, SPOTS):
        big = cv2.resize(face, (180, 180), interpolation=cv2.INTER_CUBIC)
        frame[y : y + 180, x + shift : x + shift + 180] = big[..., None]
    return frame


def detectable_faces(n: int) -> list[np.ndarray]:
    """Real FER-2013 faces that YuNet and the webcam's Haar settings both find, placed as the videos place them."""
    from ferops.runtime.faces import YuNetDetector, live_detector

    faces, _ = real_faces(200, "Training")  # videos use Training faces: PrivateTest stays untouched
    detectors = [live_detector(), YuNetDetector()]
    found = []
    for face in faces:
        frame = compose([face])
        if all(len(d.detect(frame)) == 1 for d in detectors):
            found.append(face)
        if len(found) == n:
            return found
    pytest.fail(f"only {len(found)} of 200 real faces were detectable")
