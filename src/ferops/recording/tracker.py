"""Who is who across the frames of a recording: one id per person for as long as she is there.

Each frame's faces are matched to the people seen before in two passes:
1. by overlap (IoU >= `min_iou`) with where each person was last seen: a face that moved a little;
2. the faces left over, by distance to where a person who is not on this frame was last seen (centres
   within `reach` of the larger box's side): a face that reappears where a lost person was, after a
   detection gap, a head turn, or someone walking past. Sizes are not compared: YuNet's box for one
   face can halve or double between frames (a partial box, a turn), and seated people do not swap
   places within seconds.
The closest pairs are taken first and no id goes to two faces of one frame, so two people never share
an id. A person unseen for more than `memory_s` seconds of the recording is forgotten: one who comes
back later gets a new id, which naming in the review joins again (`ferops.recording.people`). A track
seen for less than CONFIRM_S is forgotten RESTART_S after it is lost: such a short track is mostly a
part of a face that the detector took for a face for a moment. Remembered as long as a person, it
would take her face when she came back, her box overlapping it more than her own last one.

Each person's probabilities are smoothed with an exponential moving average (`alpha` is the newest
frame's weight; 1.0 turns smoothing off, ids are still kept). After a gap of more than `RESTART_S`
the average restarts from the new face: what she showed before a long gap says little about now.

`ferops webcam`, the session app and `ferops batch` all follow people with this class and these
defaults, so the same recording gives the same ids wherever it is processed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferops.core.fer2013 import EMOTIONS
from ferops.runtime.classifier import describe
from ferops.runtime.faces import Box, iou
from ferops.runtime.video import SMOOTH_ALPHA
# How long a lost person is remembered: people seated in a session stay where they are, and a face
# turned away, hidden by someone passing or missed by the detector comes back within seconds.
MEMORY_S = 10.0
RESTART_S = 1.0  # a gap longer than this restarts a person's moving average
CONFIRM_S = 2.0  # a track seen for less than this is remembered only RESTART_S once lost


@dataclass
class Track:
    id: int
    box: Box
    probs: np.ndarray
    last_t: float  # when the person was last seen, in seconds of the recording
    first_t: float = 0.0  # when she was first seen


def _centre_distance(a: Box, b: Box) -> float:
    """Distance between the boxes' centres, in sides of the larger box."""
    dx = (a[0] + a[2] / 2) - (b[0] + b[2] / 2)
    dy = (a[1] + a[3] / 2) - (b[1] + b[3] / 2)
    return float(np.hypot(dx, dy)) / max(a[2], a[3], b[2], b[3], 1)


@dataclass
class PersonTracker:
    alpha: float = SMOOTH_ALPHA
    memory_s: float = MEMORY_S
    min_iou: float = 0.3
    reach: float = 1.0
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 0

    def update(self, boxes: list[Box], probs: np.ndarray, t: float) -> list[Track]:
        """This frame's faces (at `t` seconds of the recording) -> one track per box, in the order of
        `boxes`, with its smoothed probabilities."""
        self.tracks = [k for k in self.tracks if t - k.last_t <= self._memory(k)]
        by_overlap = [
            (-iou(b, k.box), i, j)
            for i, b in enumerate(boxes)
            for j, k in enumerate(self.tracks)
            if iou(b, k.box) >= self.min_iou
        ]
        assigned: dict[int, int] = {}  # box -> track
        self._take(sorted(by_overlap), assigned)
        seen_now = set(assigned.values())
        by_distance = [
            (_centre_distance(b, k.box), i, j)
            for i, b in enumerate(boxes)
            if i not in assigned
            for j, k in enumerate(self.tracks)
            if j not in seen_now
            and _centre_distance(b, k.box) <= self.reach
        ]
        self._take(sorted(by_distance), assigned)
        out = []
        for i, box in enumerate(boxes):
            p = np.asarray(probs[i], dtype=np.float64)
            if i in assigned:
                track = self.tracks[assigned[i]]
                fresh = t - track.last_t > RESTART_S
                track.probs = p if fresh else self.alpha * p + (1 - self.alpha) * track.probs
                track.box, track.last_t = box, t
            else:
                track = Track(self._next_id, box, p, t, t)
                self._next_id += 1
                self.tracks.append(track)
            out.append(track)
        return out

    def _memory(self, track: Track) -> float:
        """How long a lost track is remembered: `memory_s`, or RESTART_S for one seen for less than
        CONFIRM_S (a part of a face found as a face for a moment must not take a person's face
        when she comes back)."""
        return self.memory_s if track.last_t - track.first_t >= CONFIRM_S else min(self.memory_s, RESTART_S)

    @staticmethod
    def _take(pairs: list[tuple[float, int, int]], assigned: dict[int, int]) -> None:
        """Best pairs first; each box and each track at most once."""
        taken = set(assigned.values())
        for _, i, j in pairs:
            if i not in assigned and j not in taken:
                assigned[i] = j
                taken.add(j)


def tracked_face(track: Track, box, det_conf: float | None, raw_probs: np.ndarray) -> dict:
    """The one record of a tracked face, in the webcam's log and in batch's tables alike: its person's id,
    box and detector confidence, the smoothed reading (label, confidence, probs, valence) and this
    frame's own unsmoothed label and confidence."""
    raw = int(np.argmax(raw_probs))
    return {
        "id": track.id,
        "box": [int(v) for v in box],
        "det_conf": det_conf,
        **describe(track.probs),
        "raw_label": EMOTIONS[raw],
        "raw_confidence": round(float(raw_probs[raw]), 4),
    }

