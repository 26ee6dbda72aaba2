"""Face detectors on a real photo that matplotlib ships (Grace Hopper), and on hostile frames."""

import os
import signal
import threading
import time
import warnings
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest

from support.processes import alive, ends_within
from ferops.runtime.faces import USES, Face, HaarDetector, UnknownDetector, YuNetDetector, create, fer_box, iou
from ferops.runtime.pipeline import face_record, find_faces
from ferops.runtime.video_faces import PhotoFaceFinder, VideoFaceFinder

HOPPER = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
FACE = HOPPER[40:330, 120:400]  # her face with some margin, 280x290


def scene(faces: list[tuple[int, int, int]], size=(480, 640), seed=0) -> np.ndarray:
    """A blurred-noise background with Hopper's face pasted at (x, y) scaled to width w, for each (x, y, w)."""
    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur(rng.integers(40, 200, (*size, 3), dtype=np.uint8), (0, 0), 6)
    for x, y, w in faces:
        h = round(w * FACE.shape[0] / FACE.shape[1])
        frame[y : y + h, x : x + w] = cv2.resize(FACE, (w, h), interpolation=cv2.INTER_AREA)
    return frame


def centre(box):
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def test_yunet_and_haar_find_the_face_in_a_real_photo():
    yunet, haar = YuNetDetector().detect(HOPPER), HaarDetector().detect(HOPPER)
    assert len(yunet) == 1 and len(haar) == 1
    assert yunet[0].score is not None and 0.8 <= yunet[0].score <= 1.0, "YuNet's confidence, 0..1"
    assert haar[0].score is None, "Haar has no confidence to report"
    assert iou(yunet[0].box, haar[0].box) > 0.5, "both frame the same face"
    x, y, w, h = yunet[0].box
    assert abs(w - h) <= 1 and 150 < w < 260, "a square, FER-2013-like crop"


def test_fer_box_is_a_square_around_eyes_and_mouth():
    # right eye, left eye, nose, right and left mouth corners
    landmarks = [40, 50, 60, 50, 50, 60, 42, 70, 58, 70]
    x, y, w, h = fer_box(landmarks, side=2.5, up=0.0)
    assert (w, h) == (50.0, 50.0) and (x + w / 2, y + h / 2) == (50.0, 60.0)


@pytest.mark.parametrize("name", ["yunet", "haar"])
def test_unusable_frames_give_no_faces_and_no_crash(name):
    det = create(name, "request")
    assert det.detect(np.zeros((1, 1, 3), np.uint8)) == []
    assert det.detect(np.zeros((1, 1), np.uint8)) == []
    assert det.detect(np.zeros((480, 640, 3), np.uint8)) == [], "an all-black frame"
    assert det.detect(np.full((3000, 20, 3), 128, np.uint8)) == [], "a sliver"


def test_a_huge_image_is_searched_at_a_bounded_size():
    det = YuNetDetector()
    seen = []
    real = det._detect
    det._detect = lambda img: seen.append(img.shape) or real(img)
    big = cv2.resize(scene([(200, 150, 200)]), (6000, 4500), interpolation=cv2.INTER_LINEAR)
    faces = det.detect(big)
    assert seen and max(seen[0][:2]) <= 640, seen
    assert len(faces) == 1 and abs(centre(faces[0].box)[0] - 300 * 6000 / 640) < 300
    det.raw(big, zoom=5.0)
    assert max(seen[-1][:2]) <= 1280, "even an asked-for zoom is bounded"


def test_twenty_faces_in_one_frame():
    spots = [(10 + 125 * c, 10 + 118 * r, 100) for r in range(4) for c in range(5)]
    frame = scene(spots, size=(480, 640))
    for det in (YuNetDetector(), PhotoFaceFinder()):
        faces = det.detect(frame)
        matched = sum(any(iou(f.box, (x, y, w, w)) > 0.3 for f in faces) for x, y, w in spots)
        assert matched >= 18 and len(faces) <= 20, (type(det).__name__, matched, len(faces))


def test_photo_finder_finds_small_faces_one_pass_misses():
    frame = scene([(100, 100, 50), (400, 300, 56)])
    assert len(PhotoFaceFinder().detect(frame)) == 2
    assert len(PhotoFaceFinder().detect(frame)) >= len(YuNetDetector().detect(frame))


def test_video_finder_follows_a_moving_face_and_drops_it_when_gone():
    finder = VideoFaceFinder(scan_every=3, detect_every=3)
    calls = []
    real = finder.detector._detect
    finder.detector._detect = lambda img: calls.append(img.shape) or real(img)
    for k in range(10):
        faces = finder.detect(scene([(100 + 8 * k, 120 + 3 * k, 150)]))
        assert len(faces) == 1, (k, faces)
        cx, cy = centre(faces[0].box)
        assert abs(cx - (175 + 8 * k)) < 25 and abs(cy - (120 + 3 * k + 75)) < 40, "on the face, on every frame"
        assert faces[0].score > 0.6
    # frame 0: the whole search (5 parts); then YuNet's window on frames 3, 6, 9 and one part each of
    # those frames; on the frames between, the face is followed by its pixels without YuNet.
    assert len(calls) == 5 + 3 + 3, len(calls)
    assert finder.detect(scene([])) == [], "a face that left is dropped at once, not extrapolated"
    assert len(calls) == 5 + 3 + 3 + 1, "its pixels match nothing there, so YuNet looks in its window"


def test_video_finder_drops_a_face_covered_between_detections():
    finder = VideoFaceFinder(scan_every=1000, detect_every=3)
    assert len(finder.detect(scene([(200, 120, 150)]))) == 1
    covered = scene([(200, 120, 150)])
    covered[120:300, 200:350] = 90  # a hand over the face, on a frame with no YuNet search planned
    assert finder.detect(covered) == []


def test_video_finder_searches_everything_after_a_cut():
    finder = VideoFaceFinder(scan_every=1000)  # no scan parts: only a cut can find the second face
    assert len(finder.detect(scene([(60, 60, 150)], seed=1))) == 1
    other = scene([(420, 250, 150)], seed=2)
    other[:, :400] //= 3  # another room: a darker left side
    after = finder.detect(other)
    assert len(after) == 1 and abs(centre(after[0].box)[0] - 495) < 25
    smaller = finder.detect(cv2.resize(other, (320, 240)))  # the stream changed size: same for the finder
    assert len(smaller) == 1 and abs(centre(smaller[0].box)[0] - 495 / 2) < 15


def test_video_finder_started_mid_stream_soon_finds_exactly_what_one_from_the_first_frame_does():
    """`ferops batch` gives each range of a recording its own finder: set to the range's first frame
    number, it must soon find the very faces (boxes and scores) that the webcam's finder, which saw
    every frame before, finds. Two faces drift by fractions of a pixel a frame, so two finders that
    once saw them a pixel apart would follow them a pixel apart for good if their windows were not snapped."""

    def frame(k: int) -> np.ndarray:
        return scene([(60 + round(0.7 * k), 100 + round(0.4 * k), 150),
                      (380 - round(0.5 * k), 150 + round(0.3 * k), 140)])

    video = [frame(k) for k in range(130)]
    whole = VideoFaceFinder()
    from_start = [whole.detect(f) for f in video]
    mid = VideoFaceFinder()
    mid.frame_no = 60
    from_60 = [mid.detect(f) for f in video[60:]]
    assert [len(faces) for faces in from_60[:3]] == [2, 2, 2], "its first frame gets the whole search"
    assert from_60[30:] == from_start[90:]


def test_video_finder_helper_process_finds_the_same_faces_frame_for_frame():
    """The scan parts run in a helper process for the webcam; the faces must not depend on it."""

    def video():
        for k in range(30):  # one face drifting, a small second one appearing at frame 5
            yield scene([(100 + 4 * k, 100, 150)] + ([(420, 300, 70)] if k >= 5 else []))

    here, helped = VideoFaceFinder(), VideoFaceFinder(background=True)
    try:
        expected = [here.detect(f) for f in video()]
        got = [helped.detect(f) for f in video()]
        assert helped._helper is not None, "the parts ran in a helper process"
    finally:
        helped.close()
    assert got == expected
    assert max(len(faces) for faces in got) == 2, "the face that appeared was found"


def test_video_finder_goes_on_alike_when_its_helper_is_interrupted_or_dies():
    """Ctrl-C reaches the helper too (the terminal's process group): ignored there. A helper that dies
    mid-part (killed, out of memory): one warning, that part and the rest searched here, same faces."""
    frames = [scene([(100 + 4 * k, 100, 150)] + ([(420, 300, 70)] if k >= 5 else [])) for k in range(30)]
    here = VideoFaceFinder()
    expected = [here.detect(f) for f in frames]
    finder = VideoFaceFinder(background=True)
    got = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for k, frame in enumerate(frames):
                # parts under way in the helper: from frame 4, and from frame 16 the one that finds the
                # small face (bottom right tile), seen on frame 20
                if k == 5:  # the helper is up (its start-up ignores SIGINT): on a loaded machine, that takes seconds
                    finder._scan[0].result(timeout=120)
                if k in (5, 17):
                    pids = list(finder._helper._processes)
                    assert len(pids) == 1
                    os.kill(pids[0], signal.SIGINT if k == 5 else signal.SIGKILL)
                    time.sleep(0.3)
                got.append(finder.detect(frame))
    finally:
        finder.close()
    assert got == expected
    assert len(got[19]) == 1 and len(got[20]) == 2, "the part the helper died in was searched here"
    assert sum("helper process failed" in str(w.message) for w in caught) == 1
    assert finder.background is False, "after the helper died, the parts ran in this process"


# The webcam's finder, its helper stopped (so it reads nothing) while a scan part is handed to it, then
# killed: the pool's feeder thread used to block for good writing the part's pixels into the pipe, and
# closing the finder then hung the process (CPython gh-94777, in Debian 12's Python 3.11.2, which `make install`
# picks; fixed by 3.11.7). Run as a child process: a hang is a timeout.
HELPER_DIES_MID_HANDOVER = """
import os, signal, sys, time, warnings
import numpy as np
from ferops.runtime.video_faces import VideoFaceFinder

warnings.simplefilter("ignore")
frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
finder = VideoFaceFinder(background=True)
finder.detect(frame)  # the whole search here; the helper starts
time.sleep(3)
(pid,) = list(finder._helper._processes)
os.kill(pid, signal.SIGSTOP)
for _ in range(4):
    finder.detect(frame)  # frame 4 hands a tile (~340 KB of pixels) to the stopped helper
os.kill(pid, signal.SIGKILL)
for _ in range(4):
    finder.detect(frame)  # frame 8 picks the part up: the helper is dead, searched here instead
finder.close()
print("closed", finder.background)
"""


def test_video_finder_closes_when_its_helper_dies_while_a_part_is_handed_over():
    import subprocess
    import sys

    try:
        out = subprocess.run(
            [sys.executable, "-c", HELPER_DIES_MID_HANDOVER], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the finder hung after its helper died while a scan part was being handed to it")
    assert out.returncode == 0 and "closed False" in out.stdout, out.stderr[-2000:]


def test_video_finder_keeps_a_known_face_whose_score_dips():
    """Hysteresis: a face found on the last frame is confirmed in its window from follow_score (0.4),
    below the detector's min_score (0.5) that a new face needs. Blurring Hopper's face makes YuNet's
    score wander around 0.5; scan_every=1000, detect_every=1: after the first frame only the face's window
    is searched, on every frame."""
    clear = scene([(200, 120, 150)])

    def follow(finder, blurred, frames=5):
        finder.detect(clear)
        return [finder.detect(blurred) for _ in range(frames)]

    for sigma in np.arange(9, 13, 0.5):
        blurred = cv2.GaussianBlur(clear, (0, 0), sigma)
        kept = follow(VideoFaceFinder(scan_every=1000, detect_every=1), blurred)
        if all(len(faces) == 1 for faces in kept) and min(f[0].score for f in kept) < 0.5:
            break  # followed on every frame, on one of them only thanks to the lower threshold
    else:
        pytest.fail("no blur of the face is followed through frames scoring below min_score")
    without = follow(VideoFaceFinder(scan_every=1000, detect_every=1, follow_score=0.5), blurred)
    assert any(faces == [] for faces in without), "without hysteresis the same face is lost on some frame"


def test_video_finder_reports_a_face_framed_twice_once():
    """YuNet sometimes frames one face at two sizes at once, the smaller inside the larger, either one
    scoring better: it is one face (one person in the review), whichever box scores better, never two."""
    face = scene([(200, 120, 150)])

    class Twice(YuNetDetector):
        def raw(self, image, zoom=None, min_score=None):
            rows = super().raw(image, zoom, min_score)
            if len(rows) == 0:
                return rows
            around = rows[:1].copy()  # the face and its surroundings: its landmarks spread 1.6x
            points = around[0, 5:15].reshape(5, 2)
            around[0, 5:15] = (points.mean(axis=0) + 1.6 * (points - points.mean(axis=0))).ravel()
            around[0, 0] = rows[0, 0] + self.larger_scores_by
            return np.concatenate([rows, around])

    kept = {}
    for better in (-0.2, 0.05):
        detector = Twice()
        detector.larger_scores_by = better
        finder = VideoFaceFinder(detector, scan_every=1000, detect_every=1)
        for _ in range(3):  # the whole search, then the windows
            found = finder.detect(face)
            assert len(found) == 1, (better, found)
        kept[better] = found[0].box[2]
    assert kept[0.05] > 1.4 * kept[-0.2], "the box that scores better is kept"


def test_video_finder_searches_a_missed_face_at_another_scale_next():
    """YuNet's score for a face depends on the scale it is searched at (FOLLOW_SCALES): a window that
    misses a known face is searched at the next scale on the next frame, and finds it there."""
    frame = scene([(200, 120, 150)])
    zooms = []

    class Picky(YuNetDetector):
        blind = None  # it finds nothing within 10% of this zoom (the window scales are 25% or more apart)

        def raw(self, image, zoom=None, min_score=None):
            zooms.append(zoom)
            if self.blind is not None and zoom is not None and abs(zoom / self.blind - 1) < 0.1:
                return np.zeros((0, 15))
            return super().raw(image, zoom, min_score)

    detector = Picky()
    finder = VideoFaceFinder(detector, scan_every=1000, detect_every=1)
    assert len(finder.detect(frame)) == 1  # the whole search
    assert len(finder.detect(frame)) == 1  # its window, at the first scale
    detector.blind = zooms[-1]
    assert finder.detect(frame) == []  # missed at that scale
    again = finder.detect(frame)
    assert len(again) == 1 and zooms[-1] > 1.2 * detector.blind  # found on the next frame at the next scale


def test_video_finder_following_a_face_at_another_scale_settles_on_the_same_one():
    """A face keeps the window scale that last found it, so two finders with different pasts (the
    webcam's, and one of `ferops batch`'s ranges) can follow one face at two scales and find it a little
    differently for good. Every SETTLE_EVERY frames each known face is searched at the scales in order:
    then both follow it at one scale, their snapped windows meet within a few frames, and from there on
    the two find exactly the same faces."""
    from ferops.runtime.video_faces import SETTLE_EVERY

    class Blinkable(YuNetDetector):
        blind = False

        def raw(self, image, zoom=None, min_score=None):
            return np.zeros((0, 15)) if self.blind else super().raw(image, zoom, min_score)

    def frame(k: int) -> np.ndarray:
        return scene([(200 + round(0.3 * k), 120, 150)])

    steady, blinked = Blinkable(), Blinkable()
    a = VideoFaceFinder(steady, scan_every=1000, detect_every=1)
    b = VideoFaceFinder(blinked, scan_every=1000, detect_every=1)
    found_a, found_b = [], []
    for k in range(SETTLE_EVERY + 20):
        blinked.blind = k == 1  # b misses the face once: it follows it at the next scale from then on
        found_a.append(a.detect(frame(k)))
        found_b.append(b.detect(frame(k)))
    assert found_b[1] == [] and all(len(faces) == 1 for faces in found_a + found_b[2:])
    assert found_a[2:SETTLE_EVERY] != found_b[2:SETTLE_EVERY], "at two scales the finders differ until then"
    assert found_a[SETTLE_EVERY + 5 :] == found_b[SETTLE_EVERY + 5 :]


def test_video_finder_picks_up_a_face_that_appears_within_one_cycle():
    finder = VideoFaceFinder(scan_every=2)
    finder.detect(scene([]))
    found_at = None
    for k in range(1, 16):
        if finder.detect(scene([(380, 260, 60)])):
            found_at = k
            break
    # 5 parts, one every 2 frames, each looked at 2 frames after it started
    assert found_at is not None and found_at <= 5 * 2 + 2


def test_detectors_shared_across_threads_answer_as_alone():
    """The REST server shares one model object across threads: same answers as sequentially."""
    frames = [scene([(60 + 90 * k, 80 + 40 * k, 120 + 20 * k)], seed=k) for k in range(4)]
    for det in (HaarDetector(), YuNetDetector()):
        expected = [det.detect(f) for f in frames]
        assert all(expected), type(det).__name__
        wrong = []

        def work(j, det=det, expected=expected, wrong=wrong):
            for n in range(12):
                k = (j + n) % 4
                if det.detect(frames[k]) != expected[k]:
                    wrong.append(k)

        threads = [threading.Thread(target=work, args=(j,)) for j in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert wrong == [], f"{type(det).__name__}: {len(wrong)} of 96 answers differ"


def test_find_faces_frames_every_face_alike():
    frame = scene([(100, 100, 160)])
    faces, inputs = find_faces(frame, create("yunet", "request"))
    assert len(faces) == 1 and inputs.shape == (1, 48, 48) and inputs.dtype == np.uint8
    whole, inputs = find_faces(frame, None)
    assert whole == [Face((0, 0, 640, 480), None)] and inputs.shape == (1, 48, 48)
    record = face_record(faces[0], np.eye(7)[3])
    assert record["label"] == "happy" and record["det_conf"] == faces[0].score and record["box"] == list(faces[0].box)


@pytest.mark.parametrize("use", USES)
def test_unknown_detector_names_the_choices_in_one_wording_for_every_use(use):
    with pytest.raises(UnknownDetector) as e:
        create("mtcnn", use)
    assert str(e.value) == "unknown face detector 'mtcnn'; choose one of yunet, haar"
    assert isinstance(e.value, ValueError)


def test_each_name_and_use_gets_its_detector():
    made = {(name, use): create(name, use, background=False) for name in ("yunet", "haar") for use in USES}
    assert type(made["yunet", "request"]) is YuNetDetector
    assert type(made["yunet", "photo"]) is PhotoFaceFinder
    assert type(made["yunet", "video"]) is VideoFaceFinder and not made["yunet", "video"].background
    assert create("yunet", "video").background, "the webcam's finder searches in a helper process by default"
    assert all(type(made["haar", use]) is HaarDetector for use in USES)
    assert made["haar", "video"].max_width == 320 and made["haar", "photo"].max_width == 640, "the webcam's settings"
    with pytest.raises(ValueError, match="unknown detector use 'live'"):
        create("yunet", "live")


def test_the_registered_models_detectors_never_load_the_video_finder():
    """The pyfunc asks for request detectors only: video_faces.py stays out of the model's (and the export
    stage's) code, as dvc.yaml says."""
    import subprocess
    import sys

    code = (
        "import sys; from ferops.runtime import pyfunc_model; from ferops.runtime.faces import create; "
        "create('yunet', 'request'); create('haar', 'request'); print('ferops.runtime.video_faces' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr[-2000:]


# The app (or webcam) killed outright: nothing closes the finder, its helper must not outlive it.
PARENT_KILLED = """
import os, time
from ferops.runtime.video_faces import VideoFaceFinder

finder = VideoFaceFinder(background=True)
print(finder._workers().submit(os.getpid).result(), flush=True)
time.sleep(300)
"""


def test_video_finder_helper_ends_when_its_parent_is_killed():
    import subprocess
    import sys

    parent = subprocess.Popen([sys.executable, "-c", PARENT_KILLED], stdout=subprocess.PIPE, text=True)
    helper = None
    try:
        helper = int(parent.stdout.readline())
        assert alive(helper)
        parent.kill()
        parent.wait(timeout=30)
        assert ends_within(helper, 10), "the helper process kept running after its parent was killed"
    finally:
        parent.kill()
        if helper is not None and alive(helper):
            os.kill(helper, signal.SIGKILL)
