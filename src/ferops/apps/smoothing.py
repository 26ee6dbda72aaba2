"""Per-face temporal smoothing: a face keeps its identity while it moves a little."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferops.runtime.faces import Box, iou


@dataclass
class Track:
    id: int
    box: Box
    probs: np.ndarray
    missed: int = 0


@dataclass
class FaceTracker:
    """Greedy IoU matching of each frame's boxes to known faces, with an exponential moving average.

    alpha is the weight of the newest frame; 1.0 turns smoothing off (identities are still kept).
    """

    alpha: float = 0.4
    min_iou: float = 0.3
    max_missed: int = 5
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 0

    def update(self, boxes: list[Box], probs: np.ndarray) -> list[Track]:
        """Returns one track per box, in the order of `boxes`, with smoothed probabilities."""
        pairs = sorted(
            ((iou(b, t.box), i, j) for i, b in enumerate(boxes) for j, t in enumerate(self.tracks)), reverse=True
        )
        assigned: dict[int, Track] = {}
        used: set[int] = set()
        for score, i, j in pairs:
            if score < self.min_iou or i in assigned or j in used:
                continue
            track = self.tracks[j]
            track.box, track.missed = boxes[i], 0
            track.probs = self.alpha * probs[i] + (1 - self.alpha) * track.probs
            assigned[i], used = track, used | {j}
        for j, track in enumerate(self.tracks):
            if j not in used:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        out = []
        for i, box in enumerate(boxes):
            if i not in assigned:
                assigned[i] = Track(self._next_id, box, np.asarray(probs[i], dtype=np.float64))
                self._next_id += 1
                self.tracks.append(assigned[i])
            out.append(assigned[i])
        return out
