"""The one path from an image to its faces' emotions: detect -> crop (FER-2013 framing) -> classify.

The webcam (`apps/live.py`), `ferops predict` and the served pyfunc all go through here, so a face
is found, framed and scored the same way wherever it is seen.
"""

from __future__ import annotations

import numpy as np

from ferops.core.fer2013 import EMOTIONS, IMAGE_SIZE
from ferops.runtime.classifier import EmotionClassifier, describe
from ferops.runtime.faces import Face, FaceDetector, crop
from ferops.runtime.imaging import face_to_input


def find_faces(image: np.ndarray, detector: FaceDetector | None) -> tuple[list[Face], np.ndarray]:
    """The faces in `image` and their (N, 48, 48) uint8 model inputs; detector None = the image is one face."""
    if detector is None:
        faces = [Face((0, 0, image.shape[1], image.shape[0]), None)]
    else:
        faces = detector.detect(image)
    inputs = [face_to_input(crop(image, f.box)) for f in faces]
    return faces, np.stack(inputs) if inputs else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)


def analyse(
    image: np.ndarray, detector: FaceDetector | None, classifier: EmotionClassifier
) -> tuple[list[Face], np.ndarray]:
    """The faces in `image` and their (N, 7) emotion probabilities, all faces in one model call."""
    faces, inputs = find_faces(image, detector)
    return faces, classifier.probs(inputs) if len(inputs) else np.zeros((0, len(EMOTIONS)), np.float32)


def face_record(face: Face, probs: np.ndarray) -> dict:
    """What every app reports for a face: box, the detector's confidence, label, confidence, probs."""
    return {"box": list(face.box), "det_conf": face.score, **describe(probs)}
