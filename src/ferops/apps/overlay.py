"""Drawing the live view: a box per face with label and confidence, bars for all seven, FPS."""

from __future__ import annotations

import cv2
import numpy as np

from ferops.core.fer2013 import EMOTIONS
from ferops.runtime.video import EMOTION_COLOURS, bgr

# BGR colours per emotion, so a glance at the box tells the label.
COLOURS = {emotion: bgr(colour) for emotion, colour in EMOTION_COLOURS.items()}
FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw(frame: np.ndarray, faces: list[dict], fps: float | None = None) -> np.ndarray:
    """Draws in place on a BGR frame; `faces` are the log's face records."""
    h, w = frame.shape[:2]
    cv2.rectangle(frame, (0, 0), (w, 24), (30, 30, 30), -1)
    banner = f"ferops  faces: {len(faces)}" + (f"  FPS: {fps:.1f}" if fps is not None else "")
    cv2.putText(frame, banner, (8, 17), FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    for face in faces:
        x, y, bw, bh = face["box"]
        colour = COLOURS[face["label"]]
        cv2.rectangle(frame, (x, y), (x + bw, y + bh), colour, 2)
        text = f"{face['label']} {face['confidence']:.0%}"
        ty = y - 6 if y - 6 > 30 else y + bh + 16
        cv2.putText(frame, text, (x, ty), FONT, 0.55, colour, 2, cv2.LINE_AA)
        bx = x + bw + 6 if x + bw + 96 < w else max(0, x - 96)
        for k, name in enumerate(EMOTIONS):
            by = y + k * 12
            if by + 10 > h:
                break
            p = face["probs"][name]
            cv2.rectangle(frame, (bx, by), (bx + int(50 * p), by + 9), COLOURS[name], -1)
            cv2.putText(frame, name[:3], (bx + 54, by + 9), FONT, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return frame
