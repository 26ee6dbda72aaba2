"""`ferops app`'s markers, responses, People and erase API, as the pages and scripts use it: checked
against what the library computes from the session's own log."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from support.apps import BrightnessClassifier, app_server, http, long_video, wait_done, webm_video
from ferops.apps import markers, sessions
from ferops.apps.report import read_log, session_summary


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return webm_video(tmp_path_factory.mktemp("videos") / "visit.webm", 200)  # 20 s, two people


def test_markers_responses_people_and_erase(tmp_path, video):
    root = tmp_path / "sessions"
    with app_server(root, BrightnessClassifier(), window_s=6.0) as (base, _):
        meta = http("POST", f"{base}/api/sessions", {"source": str(video), "name": "Songs with Mary"})[1]
        meta = wait_done(base, meta["id"])
        sid, folder = meta["id"], root / meta["id"]
        api = f"{base}/api/sessions/{sid}/markers"

        status, photo = http("POST", api, {"t": 10, "note": "wedding photo"})
        assert status == 201 and photo["t"] == 10 and photo["note"] == "wedding photo" and photo["end"] is None
        status, song = http("POST", api, {"t": 12.5, "end": 16, "note": "song from 1965"})
        assert status == 201, song
        for body, code, expected in (
            ({"note": "now"}, 400, "not running"),
            ({"t": 25}, 400, "outside the recording"),
            ({"t": 5, "note": "x" * 10_000}, 400, "at most 500"),
            ({"t": 5, "end": 2}, 400, "must come after"),
            ({"t": "soon"}, 400, "number of seconds"),
        ):
            status, err = http("POST", api, body)
            assert status == code and expected in err["detail"], (body, err)
        assert http("POST", api, b"{not json", headers={"X-Requested-With": "ferops"})[0] == 400
        assert http("POST", api, {"t": 3}, headers={"Content-Type": "application/json"})[0] == 403
        assert [m["id"] for m in http("GET", api)[1]] == [photo["id"], song["id"]]

        status, edited = http("PATCH", f"{api}/{photo['id']}", {"note": "the wedding photo"})
        assert status == 200 and edited == {**photo, "note": "the wedding photo"}
        assert http("PATCH", f"{api}/{photo['id']}", {"end": 1})[0] == 400
        assert http("PATCH", f"{api}/nosuch", {"note": "x"})[0] == 404
        assert markers.read(folder / markers.FILE)[0] == edited, "a refused edit changes nothing"

        # Two tabs at once: every marker each of them adds is kept.
        added = []
        threads = [threading.Thread(target=lambda k=k: added.append(http("POST", api, {"t": 1 + k / 10})[0]))
                   for k in range(12)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert added == [201] * 12 and len(http("GET", api)[1]) == 14
        for m in http("GET", api)[1]:
            if m["note"] == "":
                assert http("DELETE", f"{api}/{m['id']}")[0] == 200
        assert http("DELETE", f"{api}/{photo['id']}")[0] == 200
        assert http("DELETE", f"{api}/{photo['id']}")[0] == 404
        assert http("POST", api, {"t": 10, "note": "wedding photo"})[0] == 201

        # The review and the exports: what the library computes from the log, names and markers.
        http("PATCH", f"{base}/api/sessions/{sid}", {"names": {"0": "Mary", "1": "John"}})
        marks = markers.read(folder / markers.FILE)
        expected = session_summary(read_log(folder / sessions.LOG).records, names={"0": "Mary", "1": "John"},
                                   markers=marks, window_s=6.0)
        summary = http("GET", f"{base}/sessions/{sid}/export.json")[1]["summary"]
        assert summary["markers"] == expected["markers"] and summary["reached"] == expected["reached"]
        mary = summary["markers"][0]["people"]["Mary"]
        assert mary["enough"] and mary["before"]["seconds"] == pytest.approx(6, abs=0.11)
        page = http("GET", f"{base}/sessions/{sid}")[1]
        assert page.count('<g class="marker"') == 4 and page.count('<section class="prompt"') == 2
        assert 'id="reached-table"' in page and "wedding photo" in page
        rows = list(csv.DictReader(io.StringIO(http("GET", f"{base}/sessions/{sid}/responses.csv")[1])))
        assert [(r["note"], r["person"]) for r in rows] == [("wedding photo", "Mary"), ("wedding photo", "John"),
                                                            ("song from 1965", "Mary"), ("song from 1965", "John")]
        assert float(rows[0]["positive_change"]) == mary["change"]["positive"]
        frames = list(csv.DictReader(io.StringIO(http("GET", f"{base}/sessions/{sid}/export.csv")[1])))
        assert sorted({r["marker"] for r in frames}) == ["", "song from 1965", "wedding photo"]

        # A second session, a week on in the People page's eyes: the same names join the same people.
        # Sessions are ordered by start time to the second, and a person is shown with her earliest
        # session's spelling: the second starts in a later second ("Mary", not " mary ").
        time.sleep(1.1)
        started = http("POST", f"{base}/api/sessions", {"source": str(video), "name": "Photos"})[1]
        second = wait_done(base, started["id"])
        http("PATCH", f"{base}/api/sessions/{second['id']}", {"names": {"0": " mary ", "1": "John"}})
        everyone = http("GET", f"{base}/api/people")[1]
        assert [p["name"] for p in everyone["people"]] == ["John", "Mary"] and everyone["skipped"] == []
        status, one = http("GET", f"{base}/api/people/MARY")
        # Both started within one second here (their order is by start time, to the second): compared as sets.
        assert status == 200 and sorted(s["id"] for s in one["sessions"]) == sorted([sid, second["id"]])
        assert one["top_prompts"][0]["label"] in ("wedding photo", "song from 1965")
        assert sorted(s["id"] for s in one["erase"]["sessions"]) == sorted([second["id"], sid])
        assert http("GET", f"{base}/api/people/Nobody")[0] == 404
        people_page = http("GET", f"{base}/people")[1]
        assert people_page.count('<section class="person"') == 2 and '<svg class="trend"' in people_page

        # Erase Mary: confirmation asked, a name nobody has is a 404, then her name is nowhere.
        assert http("DELETE", f"{base}/api/people/Mary")[0] == 400
        assert http("DELETE", f"{base}/api/people/Nobody?confirm=Nobody")[0] == 404
        before = read_log(folder / sessions.LOG).records
        status, done = http("DELETE", f"{base}/api/people/Mary?confirm=Mary")
        assert status == 200 and sorted(done["sessions"]) == sorted([sid, second["id"]]), done
        assert http("GET", f"{base}/api/people/Mary")[0] == 404
        after = read_log(folder / sessions.LOG).records
        assert len(after) == len(before) and all(f["id"] == 1 for r in after for f in r["faces"])
        assert sum(len(r["faces"]) for r in after) == sum(1 for r in before for f in r["faces"] if f["id"] == 1)
        for path in (p for p in root.rglob("*") if p.is_file()):
            assert "mary" not in path.read_text(errors="replace").lower(), path
        assert http("GET", f"{base}/sessions/{sid}")[0] == 200, "the session stays reviewable"
        assert [p["name"] for p in http("GET", f"{base}/api/people")[1]["people"]] == ["John"]

        # A marker on a session that is deleted meanwhile.
        assert http("DELETE", f"{base}/api/sessions/{second['id']}?confirm={second['id']}")[0] == 200
        assert http("POST", f"{base}/api/sessions/{second['id']}/markers", {"t": 1})[0] == 404


def test_marking_the_current_moment_of_a_running_session(tmp_path):
    root = tmp_path / "sessions"
    recording = long_video(tmp_path / "long.mp4", 3000)
    with app_server(root, BrightnessClassifier()) as (base, _):
        sid = http("POST", f"{base}/api/sessions", {"source": str(recording)})[1]["id"]
        deadline = time.monotonic() + 60
        while (http("GET", f"{base}/api/sessions/{sid}")[1]["live"] or {}).get("frames", 0) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        status, m = http("POST", f"{base}/api/sessions/{sid}/markers", {"note": "wedding photo"})
        assert status == 201 and m["t"] > 0, m
        now = http("GET", f"{base}/api/sessions/{sid}")[1]["live"]["t"]
        assert m["t"] <= now
        assert http("POST", f"{base}/api/sessions/{sid}/markers", {"t": now + 3600})[0] == 400, "not yet recorded"
        http("PATCH", f"{base}/api/sessions/{sid}", {"names": {"0": "Mary"}})
        status, err = http("DELETE", f"{base}/api/people/Mary?confirm=Mary")
        assert status == 409 and "running" in err["detail"]
        http("POST", f"{base}/api/sessions/{sid}/stop")
        assert [x["id"] for x in http("GET", f"{base}/api/sessions/{sid}/markers")[1]] == [m["id"]]


def test_sessions_past_the_retention_are_deleted_at_start(tmp_path):
    root = tmp_path / "sessions"
    old = sessions.create(root, {"id": "20250101-100000-aaaa", "name": "old", "state": "finished",
                                 "started": (datetime.now(UTC) - timedelta(days=40)).isoformat()})
    recent = sessions.create(root, {"id": "20261201-100000-bbbb", "name": "recent", "state": "finished",
                                    "started": (datetime.now(UTC) - timedelta(days=1)).isoformat()})
    with app_server(root, BrightnessClassifier(), keep_days=30) as (base, _):
        assert not old.exists() and recent.exists()
        assert "deleted 30 days after they were recorded" in http("GET", f"{base}/")[1]
    with app_server(root, BrightnessClassifier()) as (base, _):
        assert "kept until you delete them" in http("GET", f"{base}/")[1]
    assert json.loads((recent / "session.json").read_text())["name"] == "recent"
