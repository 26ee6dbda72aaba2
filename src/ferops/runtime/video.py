"""What every path over recordings shares, once: which files are videos, how much a frame counts in a
person's smoothed probabilities, and each emotion's colour.

`ferops webcam`, the session app and `ferops batch` (scale/) all read these from here, below both apps/ and
scale/. No pipeline stage imports this module: editing it retrains nothing.
"""

from __future__ import annotations

# Files a folder is searched for (`ferops batch`) and an upload is accepted as (the session app).
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".mts", ".3gp"}
)

SMOOTH_ALPHA = 0.4  # the newest frame's weight in each person's moving average (--no-smooth: 1.0)

# Each emotion's colour (RGB hex), so a glance tells the label: the report's and, in OpenCV's BGR order
# (bgr()), the live view's boxes and bars.
EMOTION_COLOURS = {
    "angry": "#dc2828",
    "disgust": "#288c28",
    "fear": "#a028a0",
    "happy": "#f0c828",
    "sad": "#2878c8",
    "surprise": "#28c8f0",
    "neutral": "#b4b4b4",
}


def bgr(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (blue, green, red), as OpenCV draws."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r
