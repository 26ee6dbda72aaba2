"""The parts of `ferops batch` that need neither Ray nor a model: finding videos, cutting them into
frame ranges, and the sequential tracking pass over ranges scored out of order."""

from __future__ import annotations

import numpy as np
import pytest

from ferops.recording.tracker import PersonTracker
from ferops.runtime.video import SMOOTH_ALPHA
from ferops.core.fer2013 import EMOTIONS
from ferops.scale import tables
from ferops.scale.videos import Video, expand, frame_ranges


def test_frame_ranges_cover_the_video_and_leave_the_last_open():
    assert frame_ranges(Video("v", "s", 25.0, 10), 4) == [(0, 4), (4, 8), (8, None)]
    assert frame_ranges(Video("v", "s", 25.0, 8), 4) == [(0, 4), (4, None)]
    assert frame_ranges(Video("v", "s", 25.0, 0), 4) == [(0, None)], "unknown length: one range to the end"
    assert frame_ranges(Video("v", "s", 25.0, 3), 4) == [(0, None)]


def test_expand_files_folders_globs(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/x.mp4", "a/y.AVI", "a/notes.txt", "b.mkv"):
        (tmp_path / name).write_bytes(b"")
    found = expand(
        [str(tmp_path / "a"), str(tmp_path / "*.mkv"), str(tmp_path / "missing.mp4"), str(tmp_path / "b.mkv")]
    )
    assert [p.name for p in found] == ["x.mp4", "y.AVI", "b.mkv", "missing.mp4"], "no txt, no duplicate"
    assert all(p.is_absolute() for p in found)


def probs(k: int) -> np.ndarray:
    p = np.full(len(EMOTIONS), 0.05, np.float32)
    p[k] = 1 - 0.05 * (len(EMOTIONS) - 1)
    return p


def test_tracking_pass_over_ranges_scored_out_of_order_with_every():
    """every=3 over frames 0..9 cut at 4: frames 0, 3, 6 (no face) and 9 are scored; the face keeps
    id 0 across the cut and the faceless frame, and is smoothed exactly as PersonTracker does in order."""
    video = Video("/v.mp4", "f" * 64, 10.0, 10)
    box = (100, 100, 80, 80)
    seq = {0: probs(3), 3: probs(3), 9: probs(4)}
    first = {
        "start": 0,
        "frames_read": 4,
        "frame": np.array([0, 3]),
        "box": np.array([box, box], np.int32),
        "probs": np.stack([seq[0], seq[3]]),
        "detector_confidence": np.array([np.nan, 0.9], np.float32),
    }
    second = {
        "start": 4,
        "frames_read": 6,
        "frame": np.array([9]),
        "box": np.array([box], np.int32),
        "probs": np.stack([seq[9]]),
        "detector_confidence": np.array([np.nan], np.float32),
    }
    table, decoded = tables.track(video, [second, first], every=3)
    rows = table.to_pylist()
    assert decoded == 10
    assert [r["frame"] for r in rows] == [0, 3, 9] and [r["t"] for r in rows] == pytest.approx([0.0, 0.3, 0.9])
    assert [r["track"] for r in rows] == [0, 0, 0]
    assert [r["detector_confidence"] for r in rows] == [None, pytest.approx(0.9), None]
    reference = PersonTracker(alpha=SMOOTH_ALPHA)
    for frame, row in zip([0, 3, 6, 9], [rows[0], rows[1], None, rows[2]]):
        found = [box] if frame in seq else []
        tracks = reference.update(found, np.stack([seq[frame]]) if frame in seq else None, frame / video.fps)
        if row is not None:
            assert [row[f"p_{e}"] for e in EMOTIONS] == pytest.approx(tracks[0].probs, abs=1e-6)
            assert row["label"] == EMOTIONS[int(np.argmax(tracks[0].probs))]
    assert rows[2]["raw_label"] == "sad" and rows[2]["label"] == "happy", "one sad frame is smoothed over"
    for row in rows:  # valence: the smoothed probabilities summed into three groups
        assert row["v_positive"] == pytest.approx(row["p_happy"], abs=1e-6)
        assert row["v_negative"] == pytest.approx(sum(row[f"p_{e}"] for e in ("angry", "disgust", "fear", "sad",
                                                                                 "surprise")), abs=1e-6)
        assert row["valence"] == max(("positive", "neutral", "negative"), key=lambda v: row[f"v_{v}"])
    people = tables.sessions(video, table).to_pylist()
    assert len(people) == 1 and people[0]["observations"] == 3 and people[0]["track"] == 0
    assert people[0]["person"] == "person 0" and people[0]["valence_share_positive"] >= 0.6
    shares = [people[0][f"valence_share_{k}"] for k in ("positive", "neutral", "negative", "uncertain")]
    assert sum(shares) == pytest.approx(1)
    assert people[0]["share_uncertain"] + sum(people[0][f"share_{e}"] for e in EMOTIONS) == pytest.approx(1.0)


class OneBoxPerFrame:
    """A detector that finds one face where the frame's brightness encodes the frame number."""

    def detect(self, image):
        from ferops.runtime.faces import Face

        return [Face((int(image[0, 0, 0]), 10, 20, 20), None)]


class Uniform:
    def probs(self, pixels):
        return np.full((len(pixels), len(EMOTIONS)), 1 / len(EMOTIONS), np.float32)


def test_score_range_seeks_and_scores_every_nth_frame_by_its_number_in_the_video(tmp_path):
    import cv2

    from ferops.scale.scoring import score_range

    path = tmp_path / "v.avi"  # lossless-ish MJPG keeps the brightness readable
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (256, 48))
    for k in range(10):  # wide enough that every frame's box (x = its brightness) lies inside it
        writer.write(np.full((48, 256, 3), 20 * k, np.uint8))
    writer.release()
    r = score_range(str(path), 4, None, 3, OneBoxPerFrame(), Uniform())
    assert r["frames_read"] == 6 and r["frame"].tolist() == [6, 9]
    assert [abs(int(b[0]) - 20 * f) <= 3 for b, f in zip(r["box"], [6, 9])] == [True, True], r["box"]
    assert r["probs"].shape == (2, len(EMOTIONS)) and np.isnan(r["detector_confidence"]).all()
    r = score_range(str(path), 2, 5, 1, OneBoxPerFrame(), Uniform())
    assert r["frames_read"] == 3 and r["frame"].tolist() == [2, 3, 4]


class Following(OneBoxPerFrame):
    """A detector that keeps a schedule from frame to frame, as the video finder does: it records the
    frame numbers it is given (by their brightness) and where its schedule stood for each."""

    def __init__(self):
        self.frame_no, self.seen = 0, []

    def detect(self, image):
        self.seen.append((self.frame_no, round(image[0, 0, 0] / 20)))
        self.frame_no += 1
        return super().detect(image)


def test_a_following_detector_sees_the_frames_before_its_range_and_reports_only_the_range(tmp_path):
    import cv2

    from ferops.scale.scoring import score_range

    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (256, 48))
    for k in range(10):
        writer.write(np.full((48, 256, 3), 20 * k, np.uint8))
    writer.release()
    follower = Following()
    r = score_range(str(path), 6, None, 2, follower, Uniform(), lead=4)
    # Frames 2 and 4 come first, unreported; its schedule counts the frames it is given (every 2nd),
    # from where a follower given the whole video would be at frame 2.
    assert follower.seen == [(1, 2), (2, 4), (3, 6), (4, 8)]
    assert r["frame"].tolist() == [6, 8] and r["frames_read"] == 4 and len(r["probs"]) == 2
    first = Following()
    assert score_range(str(path), 0, 3, 1, first, Uniform(), lead=4)["frame"].tolist() == [0, 1, 2]
    assert first.seen == [(0, 0), (1, 1), (2, 2)], "nothing before the first frame"
    stateless = OneBoxPerFrame()  # no schedule: each frame is searched afresh, so no frames before
    stateless.detect = lambda image, real=stateless.detect: seen.append(round(image[0, 0, 0] / 20)) or real(image)
    seen: list[int] = []
    assert score_range(str(path), 6, 8, 1, stateless, Uniform(), lead=4)["frame"].tolist() == [6, 7] and seen == [6, 7]
