"""`ferops app` through its HTTP API: sessions from files, the library, review and exports, bad input."""

from __future__ import annotations

import csv
import io
import json
import time

import cv2
import numpy as np
import pytest

from support.apps import (
    HOSTILE,
    BrightnessClassifier,
    app_server,
    copied_sessions,
    http,
    long_video,
    wait_done,
    webm_video,
)
from ferops.apps import live
from ferops.recording import videosource
from ferops.recording.summary import observations, summarise_people
from ferops.runtime.classifier import EmotionClassifier


@pytest.fixture(scope="module")
def classifier(registered_model):
    return EmotionClassifier.from_keras_file(registered_model[1])


def test_session_from_a_file_library_review_exports(tmp_path):
    video = webm_video(tmp_path / "visit.webm", 30)
    root = tmp_path / "sessions"
    with app_server(root, BrightnessClassifier()) as (base, _):
        status, meta = http("POST", f"{base}/api/sessions", {"source": str(video), "name": "Mary, music"})
        assert status == 200, meta
        meta = wait_done(base, meta["id"])
        assert meta["state"] == "finished" and meta["frames"] == 30
        assert meta["name"] == "Mary, music" and meta["source"] == str(video) and meta["model_version"] == "1"
        assert meta["model_uri"] == "models:/fer@production" and meta["detector"] == "two fixed boxes (test)"
        assert meta["duration_s"] == pytest.approx(2.9) and meta["started"]
        folder = root / meta["id"]
        assert sorted(p.name for p in folder.iterdir()) == ["session.json", "session.jsonl"], "no images stored"
        records = [json.loads(line) for line in (folder / "session.jsonl").read_text().splitlines()]
        assert [r["t"] for r in records] == pytest.approx([k / 10 for k in range(30)])  # time of the recording
        people = summarise_people(observations(records))
        # 25 of 30 frames dark (sad) for person 0, bright (happy) for person 1; smoothing lags a frame or two
        assert sorted(people) == [0, 1] and people[0]["share"]["sad"] == pytest.approx(25 / 30, abs=0.07)
        assert people[1]["share"]["happy"] == pytest.approx(25 / 30, abs=0.07)

        status, page = http("GET", f"{base}/sessions/{meta['id']}")
        assert status == 200 and "Mary, music" in page and "person 0" in page and "person 1" in page
        for s in people.values():
            assert f"Seen {s['seconds_seen']:.1f} s" in page

        status, exported = http("GET", f"{base}/sessions/{meta['id']}/export.json")
        assert [[f["id"] for f in r["faces"]] for r in exported["records"]] == [[0, 1]] * 30
        assert [[f["person"] for f in r["faces"]] for r in exported["records"]] == [["person 0", "person 1"]] * 30
        assert exported["summary"]["people"]["person 1"]["share"] == people[1]["share"]
        status, text = http("GET", f"{base}/sessions/{meta['id']}/export.csv")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 60 and {(r["track"], r["person"]) for r in rows} == {("0", "person 0"), ("1", "person 1")}
        assert {r["valence"] for r in rows} <= {"positive", "neutral", "negative"}
        assert all(r["v_positive"] for r in rows)
        assert len(next(csv.reader(io.StringIO(text)))) == len(rows[0]), "no column name twice"
        status, html_report = http("GET", f"{base}/sessions/{meta['id']}/report.html")
        assert status == 200 and html_report.startswith("<!doctype html>") and "<svg" in html_report

        assert http("PATCH", f"{base}/api/sessions/{meta['id']}", {"name": "Mary, songs"})[1]["name"] == "Mary, songs"
        named = http("PATCH", f"{base}/api/sessions/{meta['id']}", {"names": {"0": "Mary", "1": "therapist"}})[1]
        assert named["names"] == {"0": "Mary", "1": "therapist"}
        assert ",0,Mary," in http("GET", f"{base}/sessions/{meta['id']}/export.csv")[1].splitlines()[1]
        # One name on both tracks: one person, one summary, one row of the timeline.
        http("PATCH", f"{base}/api/sessions/{meta['id']}", {"names": {"1": " mary"}})
        summary = http("GET", f"{base}/sessions/{meta['id']}/export.json")[1]["summary"]
        assert list(summary["people"]) == ["Mary"] and summary["people"]["Mary"]["tracks"] == [0, 1]
        page = http("GET", f"{base}/sessions/{meta['id']}")[1]
        assert page.count('<section class="person"') == 1 and "(tracks 0, 1)" in page
        # Bad names change nothing: a track the session lacks, an empty or a too long name, not a mapping.
        for bad, expected in (({"7": "Ann"}, "no track 7"), ({"0": "  "}, "is empty"), ({"0": "x" * 101}, "at most"),
                              (["Mary"], "JSON object")):
            status, err = http("PATCH", f"{base}/api/sessions/{meta['id']}", {"names": bad})
            assert status == 400 and expected in err["detail"], err
        assert json.loads((folder / "session.json").read_text())["names"] == {"0": "Mary", "1": "mary"}
        # Un-merging: null removes a name, the track is a person of its own again.
        assert http("PATCH", f"{base}/api/sessions/{meta['id']}", {"names": {"1": None}})[1]["names"] == {"0": "Mary"}
        summary = http("GET", f"{base}/sessions/{meta['id']}/export.json")[1]["summary"]
        assert list(summary["people"]) == ["Mary", "person 1"]
        assert [m["name"] for m in http("GET", f"{base}/api/sessions")[1]] == ["Mary, songs"]

        status, err = http("DELETE", f"{base}/api/sessions/{meta['id']}")
        assert status == 400 and "confirmation" in err["detail"] and folder.exists()
        assert http("DELETE", f"{base}/api/sessions/{meta['id']}?confirm={meta['id']}")[0] == 200
        assert not folder.exists() and http("GET", f"{base}/api/sessions")[1] == []
        assert http("GET", f"{base}/sessions/../../etc/passwd")[0] == 404


def test_unreadable_upload_and_wrong_type_leave_nothing(tmp_path, classifier):
    root = tmp_path / "sessions"
    with app_server(root, classifier) as (base, _):
        status, err = http("POST", f"{base}/api/upload?filename=visit.mp4", b"this is not a video\n" * 50)
        assert status == 400 and err["detail"] == "visit.mp4 is not a readable video"
        status, err = http("POST", f"{base}/api/upload?filename=notes.txt", b"hello")
        assert status == 400 and "notes.txt is not a video file" in err["detail"]
        status, err = http("POST", f"{base}/api/upload?filename=empty.mp4", b"")
        assert status == 400 and "empty" in err["detail"]
        assert list(root.iterdir()) == [], "no session folder, no partial upload"
        status, meta = http("POST", f"{base}/api/upload?filename=visit.webm&name=Upload",
                            (webm_video(tmp_path / "v.webm", 12)).read_bytes())
        assert status == 200, meta
        meta = wait_done(base, meta["id"])
        assert meta["frames"] == 12 and meta["recording"] == "recording.webm" and meta["source"] == "upload: visit.webm"
        assert http("GET", f"{base}/sessions/{meta['id']}/video")[0] == 200


class EndlessCamera:
    def __init__(self):
        self.open = True

    def read(self):
        time.sleep(0.03)
        return self.open, np.full((480, 640, 3), 120, np.uint8)

    def isOpened(self):
        return self.open

    def release(self):
        self.open = False

    def get(self, _):
        return 0


class DroppingStream(EndlessCamera):
    def __init__(self, good: int):
        super().__init__()
        self.left = good

    def read(self):
        self.left -= 1
        return (True, np.full((480, 640, 3), 90, np.uint8)) if self.left >= 0 else (False, None)

    def isOpened(self):
        return False


def test_one_camera_two_sessions_and_a_stream_that_drops(tmp_path, classifier, monkeypatch):
    def fake_open(spec):
        if spec == "0":
            return videosource.Source(spec, EndlessCamera(), "camera")
        if spec == "rtsp://camera/drops":
            return videosource.Source(spec, DroppingStream(4), "stream")
        raise videosource.SourceError(f"cannot open camera {spec} (is it connected and not in use?)")

    monkeypatch.setattr(videosource, "open_source", fake_open)
    monkeypatch.setattr(live.cv2, "VideoCapture", lambda spec: DroppingStream(0))  # reconnects fail
    root = tmp_path / "sessions"
    with app_server(root, classifier) as (base, _):
        status, first = http("POST", f"{base}/api/sessions", {"source": "0"})
        assert status == 200, first
        status, err = http("POST", f"{base}/api/sessions", {"source": "0"})
        assert status == 409 and "camera 0 is already in use by session " + first["id"] in err["detail"]
        assert len(list(root.iterdir())) == 1
        assert http("POST", f"{base}/api/sessions", {"source": "7"})[1]["detail"].startswith("cannot open camera 7")
        time.sleep(0.5)
        stopped = http("POST", f"{base}/api/sessions/{first['id']}/stop")[1]
        assert stopped["state"] == "stopped" and stopped["frames"] > 0
        lines = (root / first["id"] / "session.jsonl").read_text().splitlines()
        assert len(lines) == stopped["frames"] and all(json.loads(line) for line in lines)

        status, meta = http("POST", f"{base}/api/sessions", {"source": "rtsp://camera/drops"})
        meta = wait_done(base, meta["id"])
        assert meta["state"] == "failed" and "dropped after 4 frames; gave up after 3 retries" in meta["error"]
        assert len((root / meta["id"] / "session.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize("source", ["99999999999999999999", "2147483648", "9" * 5000])
def test_camera_index_out_of_range_is_a_400(tmp_path, source):
    """A camera index OpenCV cannot take (over a C int) is the user's typo: 400 naming it, not a 500."""
    with app_server(tmp_path / "sessions", BrightnessClassifier()) as (base, app):
        status, err = http("POST", f"{base}/api/sessions", {"source": source})
        assert status == 400, (status, err)
        assert err["detail"].startswith(f"camera index {source[:20]}") and "out of range" in err["detail"]
        assert "0 to 2147483647" in err["detail"] and not app.state.runners


def test_sessions_folder_not_writable(tmp_path, classifier):
    root = tmp_path / "sessions"
    video = webm_video(tmp_path / "v.webm", 5)
    with app_server(root, classifier) as (base, _):
        root.rmdir() if root.exists() else None
        root.write_text("the USB disk was unplugged")  # a file where the folder was: no session can be written
        status, err = http("POST", f"{base}/api/sessions", {"source": str(video)})
        assert status == 500 and f"cannot write to the sessions folder {root}" in err["detail"]
        assert root.read_text() == "the USB disk was unplugged"


def test_changes_only_from_the_app_page_and_host(tmp_path, classifier):
    """Another web site open in the browser cannot start the camera or delete sessions (no custom header
    without CORS), nor reach the app through a rebinding DNS name."""
    with app_server(tmp_path / "s", classifier) as (base, _):
        status, err = http("POST", f"{base}/api/sessions", b'{"source": "0"}', headers={"Content-Type": "text/plain"})
        assert status == 403 and "X-Requested-With" in err["detail"]
        assert http("GET", f"{base}/api/sessions", headers={"Host": "evil.example"})[0] == 400
        assert not (tmp_path / "s").exists()


def test_token_needed_when_told(tmp_path, classifier):
    with app_server(tmp_path / "s", classifier, token="s3cret") as (base, _):
        assert http("GET", f"{base}/api/sessions")[0] == 401
        assert http("GET", f"{base}/api/sessions?token=wrong")[0] == 401
        assert http("GET", f"{base}/api/sessions?token=s3cret") == (200, [])


def test_one_resolver_pins_an_alias_to_the_version_each_session_records(registered_model, monkeypatch):
    from ferops.registry.loading import ModelNotFound, pin

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model[0])
    assert pin("models:/fer@production") == ("models:/fer/1", "1") == pin("models:/fer/Production")
    assert pin("models:/fer/1") == ("models:/fer/1", "1")
    assert pin(str(registered_model[1])) == (str(registered_model[1].resolve()), None)
    for missing in ("models:/fer/Staging", "models:/fer/3", "models:/fer@champion", "runs:/abc/model"):
        with pytest.raises(ModelNotFound, match="does not resolve"):
            pin(missing)


def test_ferops_app_command_serves_and_stops_cleanly(tmp_path, registered_model):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from support.processes import clean_env, free_port
    from support.processes import read_stderr_until

    ferops = str(Path(sys.executable).with_name("ferops"))
    taken = tmp_path / "file"
    taken.write_text("x")
    r = subprocess.run([ferops, "app", "--sessions", str(taken)], capture_output=True, text=True, env=clean_env(),
                       timeout=120)
    assert r.returncode == 1 and r.stderr.strip() == f"error: --sessions {taken} is a file, not a folder"

    port, root = free_port(), tmp_path / "library"
    env = clean_env()
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([ferops, "app", "--port", str(port), "--sessions", str(root), "--model-uri",
                             str(registered_model[1])], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True)
    try:
        url = read_stderr_until(proc, r"ferops app: (http://127\.0\.0\.1:\d+/)").group(1)
        assert url == f"http://127.0.0.1:{port}/"
        status, page = http("GET", url)
        assert status == 200 and str(root.resolve()) in page and "Start a session" in page
        video = long_video(tmp_path / "long.mp4", 3000)
        status, meta = http("POST", url + "api/sessions", {"source": str(video), "save_video": True})
        assert status == 200, meta
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)  # systemd, docker stop: the running session is finished first
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutdown
        done = json.loads((root / meta["id"] / "session.json").read_text())
        lines = (root / meta["id"] / "session.jsonl").read_text().splitlines()
        assert done["state"] == "stopped" and 0 < done["frames"] == len(lines) < 3000
        assert [json.loads(line)["frame"] for line in lines] == list(range(len(lines)))
        annotated = root / meta["id"] / "annotated.webm"
        check = cv2.VideoCapture(str(annotated))
        assert done["annotated_video"] == "annotated.webm" and check.read()[0], "the saved video is finished"
    finally:
        if proc.poll() is None:
            proc.kill()


def download(url: str) -> tuple[int, str, bytes]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Disposition", ""), r.read()


@pytest.mark.parametrize("name", ["Мария, музыка", "玛丽 的 音乐", "مريم", "Zoë, café", "!!!"])
def test_exports_of_a_session_named_in_any_script(tmp_path, name):
    """The download name goes into a header (Latin-1 only): ASCII filename= plus RFC 5987 filename*=UTF-8''."""
    from urllib.parse import unquote

    video = webm_video(tmp_path / "v.webm", 5)
    with app_server(tmp_path / "sessions", BrightnessClassifier()) as (base, _):
        status, meta = http("POST", f"{base}/api/sessions", {"source": str(video), "name": name})
        assert status == 200, meta
        meta = wait_done(base, meta["id"])
        for path, ext in [("export.csv", "csv"), ("export.json", "json"), ("report.html", "html")]:
            status, disposition, body = download(f"{base}/sessions/{meta['id']}/{path}")
            assert status == 200 and body
            fallback = disposition.split('filename="')[1].split('"')[0]
            assert fallback.isascii() and fallback.endswith(f".{ext}") and len(fallback) > len(ext) + 1
            full = unquote(disposition.split("filename*=UTF-8''")[1], errors="strict")
            letters = [c for c in name if c.isalnum()]
            assert full == (f"{meta['id']}.{ext}" if not letters else
                            "".join(c if c.isalnum() or c in "-_" else "_" for c in name) + f".{ext}")
        assert name in json.loads(download(f"{base}/sessions/{meta['id']}/export.json")[2])["session"]["name"]


def partial_uploads(root) -> list:
    return sorted(p.name for p in root.glob(".upload-*")) if root.exists() else []


def test_upload_on_a_full_disk_leaves_no_partial_file(tmp_path, monkeypatch):
    """ENOSPC midway: 507 naming the full disk, the partial recording removed (it kept the disk full)."""
    import errno
    import builtins

    from ferops.apps import session_app

    def filling_open(path, mode="r", *args, **kwargs):
        f = builtins.open(path, mode, *args, **kwargs)
        if "w" in mode and ".upload-" in str(path):
            real_write, calls = f.write, []

            def write(data):
                calls.append(len(data))
                if len(calls) > 1:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real_write(data)

            f.write = write
        return f

    root = tmp_path / "sessions"
    video = webm_video(tmp_path / "v.webm", 6).read_bytes()
    with app_server(root, BrightnessClassifier()) as (base, _):
        monkeypatch.setattr(session_app, "open", filling_open, raising=False)
        status, err = http("POST", f"{base}/api/upload?filename=visit.mp4", b"\x00" * 2**21)
        assert status == 507 and f"the disk of the sessions folder {root} is full" in err["detail"], err
        assert partial_uploads(root) == [] and list(root.iterdir()) == []
        monkeypatch.undo()
        status, meta = http("POST", f"{base}/api/upload?filename=visit.webm", video)  # space again: it works
        assert status == 200 and wait_done(base, meta["id"])["frames"] == 6


def test_upload_checked_against_free_space_and_the_size_limit(tmp_path, monkeypatch):
    import collections
    import shutil

    from ferops.apps import session_app

    root = tmp_path / "sessions"
    usage = collections.namedtuple("usage", "total used free")
    with app_server(root, BrightnessClassifier()) as (base, _):
        monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(2**40, 2**40 - 2**20, 2**20))
        status, err = http("POST", f"{base}/api/upload?filename=visit.mp4", b"\x00" * 2**21)
        assert status == 507 and "not enough free disk space for visit.mp4 (2.0 MiB)" in err["detail"], err
        assert "1.0 MiB free" in err["detail"] and partial_uploads(root) == []
        monkeypatch.undo()
        monkeypatch.setattr(session_app, "MAX_UPLOAD_BYTES", 1000)
        status, err = http("POST", f"{base}/api/upload?filename=visit.mp4", b"\x00" * 5000)
        assert status == 413 and "visit.mp4 is 5000 bytes: uploads are limited to 1000 bytes" in err["detail"], err
        # No Content-Length: counted as it streams in. The app may answer before the body is all sent (it
        # stops reading at the limit), so the client reads the answer even where its last chunks are refused.
        import http.client as httpclient
        from urllib.parse import urlsplit

        conn = httpclient.HTTPConnection(urlsplit(base).netloc, timeout=30)
        conn.putrequest("POST", "/api/upload?filename=visit.mp4")
        for name, value in (("X-Requested-With", "ferops"), ("Content-Type", "video/mp4"),
                            ("Transfer-Encoding", "chunked")):
            conn.putheader(name, value)
        conn.endheaders()
        try:
            for _ in range(5):
                conn.send(b"258\r\n" + b"\x00" * 600 + b"\r\n")  # 0x258 = 600 bytes
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = conn.getresponse()
        status, err = answer.status, json.loads(answer.read())
        conn.close()
        assert status == 413 and "larger than the upload limit of 1000 bytes" in err["detail"], err
        assert partial_uploads(root) == [] and [p for p in root.iterdir()] == []


def test_upload_cut_off_by_the_browser_leaves_no_partial_file(tmp_path):
    import socket

    root = tmp_path / "sessions"
    with app_server(root, BrightnessClassifier()) as (base, _):
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"POST /api/upload?filename=visit.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"X-Requested-With: ferops\r\nContent-Length: 10000000\r\n\r\n" + b"\x00" * 300_000)
            deadline = time.monotonic() + 10
            while not partial_uploads(root):
                assert time.monotonic() < deadline, "the upload never started"
                time.sleep(0.05)
        deadline = time.monotonic() + 10  # the browser is gone: the partial recording must go too
        while partial_uploads(root) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert partial_uploads(root) == [] and list(root.iterdir()) == []
        assert http("GET", f"{base}/api/sessions") == (200, [])


def test_sessions_left_running_by_a_killed_app_are_interrupted_at_start(tmp_path):
    """The app killed mid-session: at the next start its session says interrupted, with the frames and
    length its log holds (the line cut mid-write dropped), and the half-written video and upload are gone.
    A session of an app still running on the same folder is left alone."""
    import subprocess
    import sys

    from ferops.apps import sessions

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    root = tmp_path / "sessions"
    crashed, elsewhere = "20250101-100000-aaaa", "20250101-110000-bbbb"
    try:
        for sid, pid in [(crashed, dead.pid), (elsewhere, other.pid)]:
            sessions.create(root, {"id": sid, "name": sid, "started": "2025-01-01T10:00:00+00:00", "state": "running",
                                   "frames": 0, "duration_s": None, "error": None, "recording": None,
                                   "annotated_video": None, "names": {}, "app_pid": pid})
            lines = [json.dumps({"frame": k, "t": 1.5 + k / 10, "wall": "2025-01-01T10:00:00.000+00:00",
                                 "faces": []}) + "\n" for k in range(4)]
            (root / sid / "session.jsonl").write_text("".join(lines) + '{"frame": 4, "t": 1.9, "wa')
            (root / sid / ".annotated.partial.webm").write_bytes(b"\x1aE\xdf\xa3 half a video")
        (root / f".upload-{dead.pid}-0a0b.mp4").write_bytes(b"\x00" * 1000)
        (root / f".upload-{other.pid}-0c0d.mp4").write_bytes(b"\x00" * 1000)

        with app_server(root, BrightnessClassifier()) as (base, _):
            status, meta = http("GET", f"{base}/api/sessions/{crashed}")
            assert status == 200 and meta["state"] == "interrupted" and meta["frames"] == 4, meta
            assert meta["duration_s"] == pytest.approx(0.3) and "interrupted" in meta["error"]
            assert sorted(p.name for p in (root / crashed).iterdir()) == ["session.json", "session.jsonl"]
            assert (root / crashed / "session.jsonl").read_text() == "".join(lines)
            assert http("POST", f"{base}/api/sessions/{crashed}/stop")[0] == 409
            status, page = http("GET", f"{base}/sessions/{crashed}")
            assert status == 200 and "interrupted" in page
            assert {m["id"]: m["state"] for m in http("GET", f"{base}/api/sessions")[1]} == {
                crashed: "interrupted", elsewhere: "running"}
            assert (root / elsewhere / ".annotated.partial.webm").exists()
            assert sorted(p.name for p in root.glob(".upload-*")) == [f".upload-{other.pid}-0c0d.mp4"]
    finally:
        other.kill()
        other.wait()


def test_session_list_leaves_out_entries_not_named_as_their_folder(tmp_path):
    from pathlib import Path

    import ferops.apps

    root = tmp_path / "sessions"
    shown, _ = copied_sessions(root)
    with app_server(root, BrightnessClassifier()) as (base, _):
        status, listed = http("GET", f"{base}/api/sessions")
        assert status == 200 and [m["id"] for m in listed] == [shown] and listed[0]["name"] == HOSTILE
    page = (Path(ferops.apps.__file__).parent / "static" / "app.html").read_text()
    assert "innerHTML" not in page, "the page shows session data as text (textContent), never as HTML"


def test_a_recording_with_no_decodable_frame_is_refused(tmp_path, monkeypatch):
    from support.videos import undecodable_video

    video = undecodable_video(tmp_path / "visit.mp4")
    root = tmp_path / "sessions"
    with app_server(root, BrightnessClassifier()) as (base, app):
        status, err = http("POST", f"{base}/api/sessions", {"source": str(video)})
        assert status == 400 and err["detail"] == f"{video} is not a readable video (no frame of it can be decoded)"
        status, err = http("POST", f"{base}/api/upload?filename=visit.mp4", video.read_bytes())
        assert status == 400 and err["detail"] == "visit.mp4 is not a readable video", err
        assert not root.exists() or list(root.iterdir()) == []
        # Not known at the start (the check passed): the session fails, saying why, not "finished" with 0 frames
        monkeypatch.setattr(videosource, "_first_frame_decodes", lambda path: True)
        status, meta = http("POST", f"{base}/api/sessions", {"source": str(video)})
        assert status == 200, meta
        meta = wait_done(base, meta["id"])
        assert meta["state"] == "failed" and "is not a readable video" in meta["error"] and meta["frames"] == 0


def test_saved_video_that_fails_to_write_fails_the_session(tmp_path, monkeypatch):
    """"Save the annotated video" on a disk that drops the writes: the session fails naming the video,
    which is not listed as saved; the log keeps every frame."""
    from support.videos import SilentlyFailingWriter

    video = webm_video(tmp_path / "v.webm", 8)
    monkeypatch.setattr(live.cv2, "VideoWriter", SilentlyFailingWriter)
    root = tmp_path / "sessions"
    with app_server(root, BrightnessClassifier()) as (base, _):
        status, meta = http("POST", f"{base}/api/sessions", {"source": str(video), "save_video": True})
        assert status == 200, meta
        meta = wait_done(base, meta["id"])
    folder = root / meta["id"]
    assert meta["state"] == "failed", meta
    assert meta["error"].startswith(f"cannot write the video {folder / 'annotated.webm'}: the file is unplayable")
    assert meta["annotated_video"] is None and not (folder / "annotated.webm").exists()
    lines = (folder / "session.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(8))


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\",\"Mary\")", "+1+2", "-2+3", "@SUM(A1)", "\tTab", "\rCR"])
def test_a_name_a_spreadsheet_would_run_is_exported_as_text(name):
    """A person named like a formula goes into the CSV as text (a leading apostrophe), never as a formula."""
    from ferops.apps import sessions

    records = [{"frame": 0, "t": 0.0, "faces": [{"id": 0, "label": "happy", "confidence": 0.9, "box": [1, 2, 3, 4]}]}]
    (row,) = list(csv.DictReader(io.StringIO(sessions.records_csv(records, {"0": name}))))
    assert row["person"] == "'" + name and row["track"] == "0" and row["label"] == "happy"
