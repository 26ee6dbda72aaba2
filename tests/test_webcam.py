"""`ferops webcam` headless on videos built in the test: real faces placed on a plain background,
and frames with no face. Every error path gives a one-line message and a non-zero exit."""

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from support.data import needs_real_data
from support.faces import SPOTS, compose, detectable_faces
from support.processes import FERROPS, clean_env, run_cli
from support.videos import SilentlyFailingWriter, undecodable_video, write_video
from ferops.apps import live
from ferops.recording import framelog, videosource
from ferops.runtime.classifier import EmotionClassifier
from ferops.apps.cli import app
from ferops.runtime.faces import HaarDetector, crop, live_detector
from ferops.core.fer2013 import EMOTIONS


@needs_real_data
def test_headless_run_on_real_faces(tmp_path, registered_model):
    uri, keras_path, _ = registered_model
    faces = detectable_faces(2)
    frames = [compose(faces, shift=k) for k in range(12)] + [np.full((480, 640, 3), 200, np.uint8)] * 3
    video = write_video(tmp_path / "faces.mp4", frames)
    log, out = tmp_path / "session.jsonl", tmp_path / "annotated.mp4"
    r = run_cli(
        "webcam",
        "--model-uri",
        "models:/fer/Production",
        "--source",
        str(video),
        "--headless",
        "--no-smooth",
        "--log",
        str(log),
        "--output",
        str(out),
        env=clean_env(MLFLOW_TRACKING_URI=uri),
    )
    assert r.returncode == 0, r.stderr[-2000:]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(15))
    assert all(b["t"] >= a["t"] for a, b in zip(records, records[1:]))
    clf = EmotionClassifier.from_keras_file(keras_path)
    cap = cv2.VideoCapture(str(video))
    for rec in records:
        ok, frame = cap.read()
        assert ok
        if rec["frame"] >= 12:
            assert rec["faces"] == [], "no face in the empty frames"
            continue
        assert len(rec["faces"]) == 2, rec
        for face, (x, y) in zip(sorted(rec["faces"], key=lambda f: f["box"][0]), SPOTS):
            bx, by, bw, bh = face["box"]
            assert abs(bx + bw / 2 - (x + rec["frame"] + 90)) < 40 and abs(by + bh / 2 - (y + 90)) < 40
            expected = clf.classify_faces([crop(frame, face["box"])])[0]
            assert np.allclose([face["probs"][e] for e in EMOTIONS], expected, atol=1e-3)
            assert face["label"] == EMOTIONS[int(expected.argmax())]
            assert 0 <= face["confidence"] <= 1
    check = cv2.VideoCapture(str(out))
    assert int(check.get(cv2.CAP_PROP_FRAME_COUNT)) == 15 and check.read()[1].shape == (480, 640, 3)


@needs_real_data
def test_smoothing_keeps_identity_while_faces_move(tmp_path, registered_model):
    _, keras_path, _ = registered_model
    faces = detectable_faces(2)
    video = write_video(tmp_path / "faces.mp4", [compose(faces, shift=2 * k) for k in range(8)])
    clf = EmotionClassifier.from_keras_file(keras_path)
    log = tmp_path / "s.jsonl"
    with open(log, "w") as f:
        n = live.run(videosource.open_source(str(video)), live_detector(), clf, live.Options(max_frames=5), log=f)
    assert n == 5
    records = [json.loads(line) for line in log.read_text().splitlines()]
    ids = [sorted((face["box"][0], face["id"]) for face in r["faces"]) for r in records]
    assert all([i for _, i in frame] == [i for _, i in ids[0]] for frame in ids), ids


def test_no_face_video_and_max_frames(tmp_path, registered_model):
    uri, _, _ = registered_model
    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (31, 31), 0) for _ in range(10)]
    video = write_video(tmp_path / "noface.mp4", frames)
    log = tmp_path / "s.jsonl"
    r = run_cli(
        "webcam",
        "--model-uri",
        "models:/fer@production",
        "--source",
        str(video),
        "--headless",
        "--log",
        str(log),
        "--max-frames",
        "6",
        env=clean_env(MLFLOW_TRACKING_URI=uri),
    )
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 6 and all(rec["faces"] == [] for rec in records)


@pytest.fixture
def cli_env(registered_model, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model[0])
    return CliRunner()


def one_line_error(result, expected: str):
    assert result.exit_code != 0
    lines = [line for line in result.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output
    assert "Traceback" not in result.output


def test_error_camera_cannot_open(cli_env):
    one_line_error(cli_env.invoke(app, ["webcam", "--source", "57", "--headless"]), "cannot open camera 57")


def test_error_camera_index_out_of_range(cli_env):
    one_line_error(
        cli_env.invoke(app, ["webcam", "--source", "99999999999999999999", "--headless"]),
        "camera index 99999999999999999999 is out of range: cameras are numbered 0 to 2147483647",
    )


def test_error_file_missing(cli_env, tmp_path):
    one_line_error(
        cli_env.invoke(app, ["webcam", "--source", str(tmp_path / "nope.mp4"), "--headless"]), "video file not found"
    )


def test_error_not_a_video(cli_env, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 100)
    one_line_error(cli_env.invoke(app, ["webcam", "--source", str(bad), "--headless"]), "is not a readable video")


def test_error_stream_cannot_open(cli_env):
    one_line_error(
        cli_env.invoke(app, ["webcam", "--source", "rtsp://127.0.0.1:9/none", "--headless"]), "cannot open stream"
    )


def test_error_model_uri_does_not_resolve_lists_registered(cli_env, tmp_path, registered_model):
    video = write_video(tmp_path / "v.mp4", [np.zeros((480, 640, 3), np.uint8)] * 2)
    result = cli_env.invoke(
        app, ["webcam", "--model-uri", "models:/nope@production", "--source", str(video), "--headless"]
    )
    one_line_error(result, "does not resolve")
    assert f"registered models in {registered_model[0]}: fer (versions 1; @production=1)" in result.output


def test_cli_errors_exit_nonzero_without_traceback_as_a_process(tmp_path, registered_model):
    r = run_cli(
        "webcam",
        "--source",
        str(tmp_path / "missing.mp4"),
        "--headless",
        env=clean_env(MLFLOW_TRACKING_URI=registered_model[0]),
    )
    assert r.returncode == 1 and r.stderr.strip() == f"error: video file not found: {tmp_path / 'missing.mp4'}"


class DroppingCapture:
    """A stream that gives `good` frames, then fails every read and every reopen."""

    def __init__(self, good: int):
        self.left = good

    def read(self):
        if self.left > 0:
            self.left -= 1
            return True, np.full((480, 640, 3), 100, np.uint8)
        return False, None

    def isOpened(self):
        return False

    def release(self):
        pass

    def get(self, _):
        return 0


def test_stream_drop_retries_then_stops_with_a_complete_log(tmp_path, registered_model, monkeypatch):
    clf = EmotionClassifier.from_keras_file(registered_model[1])
    source = videosource.Source("rtsp://camera/feed", DroppingCapture(4), "stream")
    reopened = []
    monkeypatch.setattr(live.cv2, "VideoCapture", lambda spec: reopened.append(spec) or DroppingCapture(0))
    log = tmp_path / "s.jsonl"
    with (
        open(log, "w") as f,
        pytest.raises(
            videosource.SourceError, match="stream rtsp://camera/feed dropped after 4 frames; gave up after 3 retries"
        ),
    ):
        live.run(source, HaarDetector(), clf, live.Options(retry_wait_s=0), log=f)
    assert reopened == ["rtsp://camera/feed"] * 3
    assert [json.loads(line)["frame"] for line in log.read_text().splitlines()] == [0, 1, 2, 3]


def test_predict_command(tmp_path, cli_env, registered_model):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8), (9, 9), 0)
    cv2.imwrite(str(folder / "a.png"), image)
    (folder / "broken.jpg").write_bytes(b"not an image")
    result = cli_env.invoke(
        app, ["predict", str(folder), "--json", "--whole-image", "--annotate", str(tmp_path / "ann")]
    )
    assert result.exit_code == 1, result.output  # an input was skipped (broken.jpg): never a silent 0
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1 and lines[0]["file"] == str(folder / "a.png")
    (face,) = lines[0]["faces"]
    assert face["box"] == [0, 0, 200, 200]
    # What it says is what the registered model says about that image (flip TTA as served).
    expected = EmotionClassifier.from_keras_file(registered_model[1]).classify_faces([image])[0]
    assert np.allclose([face["probs"][e] for e in EMOTIONS], expected, atol=1e-3)
    assert face["label"] == EMOTIONS[int(expected.argmax())]
    assert face["confidence"] == pytest.approx(expected.max(), abs=1e-3)
    assert "error: " in result.output and "broken.jpg" in result.output and "(skipped)" in result.output
    assert face["det_conf"] is None, "no detector ran"
    annotated = cv2.imread(str(tmp_path / "ann" / "a.png"))
    assert annotated.shape == image.shape and not np.array_equal(annotated, image), "the box and label are drawn"


@needs_real_data
def test_predict_finds_faces_with_either_detector(tmp_path, cli_env):
    faces = detectable_faces(2)
    cv2.imwrite(str(tmp_path / "two.png"), compose(faces))
    for detector in ("yunet", "haar"):
        result = cli_env.invoke(app, ["predict", str(tmp_path / "two.png"), "--json", "--detector", detector])
        assert result.exit_code == 0, result.output
        found = json.loads(result.stdout.splitlines()[-1])["faces"]
        assert len(found) == 2, (detector, found)
        for face, (x, y) in zip(sorted(found, key=lambda f: f["box"][0]), SPOTS):
            bx, by, bw, bh = face["box"]
            assert abs(bx + bw / 2 - (x + 90)) < 40 and abs(by + bh / 2 - (y + 90)) < 40
            assert (face["det_conf"] is None) == (detector == "haar")
            assert detector == "haar" or 0.5 <= face["det_conf"] <= 1


def test_predict_refuses_a_bare_keras_file_without_its_calibration(tmp_path, cli_env, registered_model):
    import shutil

    bare = tmp_path / "model.keras"
    shutil.copy(registered_model[1], bare)
    cv2.imwrite(str(tmp_path / "a.png"), np.full((60, 60, 3), 120, np.uint8))
    one_line_error(
        cli_env.invoke(app, ["predict", str(tmp_path / "a.png"), "--model-uri", str(bare)]),
        "no calibration.json beside it",
    )


# --- faults found by trying it as a hostile user would (issue 10) ---


def noise_video(path: Path, n: int, fps: float = 25.0) -> Path:
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (31, 31), 0)
    return write_video(path, [np.roll(base, 3 * k, axis=1) for k in range(n)], fps=fps)


def test_output_or_log_on_the_source_is_refused(cli_env, tmp_path):
    video = noise_video(tmp_path / "session.mp4", 3)
    before = video.read_bytes()
    (tmp_path / "alias.mp4").symlink_to(video)
    for flag, path in [
        ("--output", str(video)),
        ("--log", str(video)),
        ("--output", str(tmp_path / "sub" / ".." / "session.mp4")),
        ("--output", str(tmp_path / "alias.mp4")),
    ]:
        result = cli_env.invoke(app, ["webcam", "--source", str(video), "--headless", flag, path])
        one_line_error(result, "is the source recording")
    assert video.read_bytes() == before


def test_text_file_as_source_is_refused(cli_env, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Session plan: photos of the seaside, music from 1962.\n" * 20)
    one_line_error(cli_env.invoke(app, ["webcam", "--source", str(notes), "--headless"]), "it is a text file")


@pytest.mark.parametrize(
    "log, expected",
    [
        ("missing/s.jsonl", "folder"),
        ("/proc/self/s.jsonl", "cannot write the log"),
        ("/dev/full", "No space left on device"),
    ],
)
def test_log_location_that_cannot_be_written(cli_env, tmp_path, log, expected):
    video = noise_video(tmp_path / "v.mp4", 3)
    target = str(tmp_path / log) if not log.startswith("/") else log
    one_line_error(cli_env.invoke(app, ["webcam", "--source", str(video), "--headless", "--log", target]), expected)
    assert not (tmp_path / "missing").exists()


def test_recording_time_from_the_video_and_wall_clock(tmp_path, registered_model):
    clf = EmotionClassifier.from_keras_file(registered_model[1])
    video = noise_video(tmp_path / "v.mp4", 20, fps=10.0)
    log = tmp_path / "s.jsonl"
    with open(log, "w") as f:
        n = live.run(videosource.open_source(str(video)), live_detector(), clf, live.Options(), log=f)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert n == 20 and [r["t"] for r in records] == [k / 10 for k in range(20)]  # not processing time
    from datetime import datetime

    walls = [datetime.fromisoformat(r["wall"]) for r in records]
    assert walls == sorted(walls) and walls[0].tzinfo is not None


def test_finite_video_over_http_ends_at_its_end(tmp_path, registered_model):
    """Served like `python -m http.server`: 12 frames are 12 frames, not replayed from the start."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    noise_video(tmp_path / "v.mp4", 12, fps=12.0)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        clf = EmotionClassifier.from_keras_file(registered_model[1])
        source = videosource.open_source(f"http://127.0.0.1:{server.server_address[1]}/v.mp4")
        assert source.kind == "stream" and source.finite
        records = []
        n = live.run(source, live_detector(), clf, live.Options(max_frames=40), on_record=records.append)
    finally:
        server.shutdown()
        server.server_close()
    assert n == 12 and records[-1]["t"] == pytest.approx(11 / 12, abs=1e-3)


def mp4_is_finished(path: Path) -> bool:
    """An mp4 is playable once its index (the moov box) is written, at the writer's release."""
    data = path.read_bytes()
    return b"moov" in data and b"mdat" in data


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_finishes_video_and_log(tmp_path, registered_model, sig):
    import signal
    import time

    video = noise_video(tmp_path / "long.mp4", 600)
    log, out = tmp_path / "s.jsonl", tmp_path / "annotated.mp4"
    proc = subprocess.Popen(
        [*FERROPS, "webcam", "--source", str(video), "--headless", "--log", str(log), "--output", str(out)],
        env=clean_env(MLFLOW_TRACKING_URI=registered_model[0]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 10):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "(stopped)" in err and "Traceback" not in err
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line complete
    assert 10 <= len(records) < 600 and [r["frame"] for r in records] == list(range(len(records)))
    assert mp4_is_finished(out)
    check = cv2.VideoCapture(str(out))
    frames = 0
    while check.read()[0]:
        frames += 1
    assert frames == len(records)
    assert not list(tmp_path.glob(".annotated.partial*")), "no temporary video left behind"


def test_failed_start_leaves_an_existing_log_as_it_was(cli_env, tmp_path):
    log = tmp_path / "yesterday.jsonl"
    log.write_text('{"frame": 0, "t": 0.0, "faces": []}\n')
    result = cli_env.invoke(app, ["webcam", "--source", str(tmp_path / "typo.mp4"), "--headless", "--log", str(log)])
    one_line_error(result, "video file not found")
    result = cli_env.invoke(app, ["webcam", "--source", str(noise_video(tmp_path / "v.mp4", 2)), "--headless",
                                  "--log", str(log), "--model-uri", "models:/nope@production"])
    one_line_error(result, "does not resolve")
    assert log.read_text() == '{"frame": 0, "t": 0.0, "faces": []}\n'


class FiniteStreamThatDrops(DroppingCapture):
    """An HTTP video of 100 frames whose connection dies after 40."""

    def get(self, prop):
        return 100 if prop == cv2.CAP_PROP_FRAME_COUNT else 0


def test_a_detector_failing_mid_run_leaves_every_frame_before_it_logged(tmp_path, registered_model):
    """Whatever stops a run, the log holds a complete line for every frame processed before it."""
    from ferops.runtime.faces import Face

    class FailsOnSixth:
        calls = 0

        def detect(self, image):
            self.calls += 1
            if self.calls == 6:
                raise RuntimeError("detector broke")
            return [Face((100, 80, 160, 160), 0.9)]

    clf = EmotionClassifier.from_keras_file(registered_model[1])
    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (31, 31), 0) for _ in range(10)]
    video = write_video(tmp_path / "v.mp4", frames)
    log = tmp_path / "s.jsonl"
    with open(log, "w") as f, pytest.raises(RuntimeError, match="detector broke"):
        live.run(videosource.open_source(str(video)), FailsOnSixth(), clf, live.Options(), log=f)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4]
    assert all(len(r["faces"]) == 1 and r["faces"][0]["id"] == 0 for r in records)


def test_finite_stream_cut_short_is_a_drop_not_an_end(tmp_path, registered_model):
    clf = EmotionClassifier.from_keras_file(registered_model[1])
    source = videosource.Source("http://host/visit.mp4", FiniteStreamThatDrops(40), "stream", finite=True)
    log = tmp_path / "s.jsonl"
    with open(log, "w") as f, pytest.raises(videosource.SourceError, match="ended after 40 of its 100 frames"):
        live.run(source, HaarDetector(), clf, live.Options(), log=f)
    assert len(log.read_text().splitlines()) == 40


def test_a_video_with_no_decodable_frame_is_refused(cli_env, tmp_path):
    video = undecodable_video(tmp_path / "visit.mp4")
    capture = cv2.VideoCapture(str(video))
    assert capture.isOpened() and capture.get(cv2.CAP_PROP_FRAME_COUNT) == 10 and not capture.read()[0]
    capture.release()
    one_line_error(cli_env.invoke(app, ["webcam", "--source", str(video), "--headless"]),
                   f"{video} is not a readable video (no frame of it can be decoded)")


def test_a_file_that_yields_no_frame_while_running_is_an_error():
    """Where the first frame decoded at the check but not in the run: an error, not a finished empty run."""

    class NoFrames:
        def read(self):
            return False, None

        def get(self, _):
            return 10.0

        def release(self):
            pass

    class NoFaces:
        def detect(self, _):
            return []

    with pytest.raises(videosource.SourceError, match="visit.mp4 is not a readable video"):
        live.run(videosource.Source("visit.mp4", NoFrames(), "file", finite=True), NoFaces(), None, live.Options())


def test_full_disk_keeps_the_partial_video_and_says_so(tmp_path, registered_model, tiny_disk):
    """OpenCV's writer drops frames on a full disk with a warning each and no error: the run stops at
    once with one error line, the unplayable video keeps its temporary name, the log stays complete."""
    video = noise_video(tmp_path / "v.mp4", 100)  # ~190 KB annotated
    log, out = tmp_path / "s.jsonl", tiny_disk / "annotated.mp4"
    r = run_cli(
        "webcam", "--source", str(video), "--headless", "--log", str(log), "--output", str(out),
        env=clean_env(MLFLOW_TRACKING_URI=registered_model[0]),
    )
    assert r.returncode == 1, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    partial = tiny_disk / ".annotated.partial.mp4"
    assert lines[-1].startswith(f"error: cannot write the video {out}: the disk is full"), r.stderr[-2000:]
    assert f"the incomplete video is left at {partial}" in lines[-1]
    assert r.stderr.count("Failed to write frame") <= 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not out.exists() and partial.exists()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert 0 < len(records) < 100 and [rec["frame"] for rec in records] == list(range(len(records)))


def test_video_that_did_not_get_written_is_an_error_not_renamed(tmp_path, registered_model, monkeypatch):
    clf = EmotionClassifier.from_keras_file(registered_model[1])
    source = videosource.open_source(str(noise_video(tmp_path / "v.mp4", 6)))
    monkeypatch.setattr(live.cv2, "VideoWriter", SilentlyFailingWriter)
    log, out = tmp_path / "s.jsonl", tmp_path / "annotated.mp4"
    with open(log, "w") as f, pytest.raises(framelog.OutputError) as e:
        live.run(source, HaarDetector(), clf, live.Options(), log=f, writer_path=out)
    assert str(e.value) == (
        f"cannot write the video {out}: the file is unplayable after 6 frames (a write failed); "
        f"the incomplete video is left at {tmp_path / '.annotated.partial.mp4'}"
    )
    assert not out.exists() and (tmp_path / ".annotated.partial.mp4").exists()
    assert [json.loads(line)["frame"] for line in log.read_text().splitlines()] == list(range(6))


def test_markers_typed_during_a_run_are_written_after_those_kept(tmp_path, registered_model):
    """A line typed in the terminal marks the moment with its text as the note; the markers FILE already
    held stay; a FILE that is not a markers file is one error line and is left as it was."""
    uri, _, _ = registered_model
    video = noise_video(tmp_path / "session.mp4", 30)
    marks = tmp_path / "markers.json"
    marks.write_text(json.dumps([{"t": 0.5, "note": "hello"}]))
    r = subprocess.run([*FERROPS, "webcam", "--source", str(video), "--headless", "--markers", str(marks)],
                       input="wedding photo\n", capture_output=True, text=True, timeout=300,
                       env=clean_env(MLFLOW_TRACKING_URI=uri))
    assert r.returncode == 0, r.stderr
    kept = json.loads(marks.read_text())["markers"]
    assert sorted(m["note"] for m in kept) == ["hello", "wedding photo"], kept
    typed = next(m for m in kept if m["note"] == "wedding photo")
    assert 0 <= typed["t"] <= 30 / 25 and "marker at" in r.stderr and f"2 markers {marks}" in r.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("not markers\n")
    result = subprocess.run([*FERROPS, "webcam", "--source", str(video), "--headless", "--markers", str(notes)],
                            capture_output=True, text=True, timeout=300, env=clean_env(MLFLOW_TRACKING_URI=uri))
    assert result.returncode == 1 and result.stderr.startswith("error: --markers") and "is not JSON" in result.stderr
    assert notes.read_text() == "not markers\n"
