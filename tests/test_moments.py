"""Markers, each person's response to them, a person across sessions, erasing a person, retention: the
library functions and the command line, on small logs made here (numbers worked out by hand)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from ferops.apps import history, markers, privacy, sessions
from ferops.apps.cli import app
from ferops.apps.report import read_log, session_summary


def face(label, pid, conf=0.9):
    return {"id": pid, "box": [0, 0, 10, 10], "label": label, "confidence": conf, "probs": {}}


def two_people(n=120, step=0.5):
    """Track 0 is sad until t = 30 s, then happy; track 1 is neutral and leaves at t = 32 s."""
    return [
        {"frame": i, "t": i * step,
         "faces": [face("sad" if i * step < 30 else "happy", 0)] + ([face("neutral", 1)] if i * step < 32 else [])}
        for i in range(n)
    ]


def make_session(root, sid, records, names=None, marks=None, started=None, name="group", **meta):
    folder = sessions.create(root, {"id": sid, "name": name, "state": "finished", "names": names or {},
                                    "started": started or "2026-11-01T10:00:00+00:00", **meta})
    (folder / sessions.LOG).write_text("".join(json.dumps(r) + "\n" for r in records))
    if marks is not None:
        markers.write(folder / markers.FILE, [{"id": markers.new_id(), **markers.check(m)} for m in marks])
    return folder


@pytest.mark.parametrize(
    "marker, expected",
    [
        ({"t": 61}, "outside the recording (0 to 60 s)"),
        ({"t": -1}, "outside the recording"),
        ({"t": float("nan")}, "must be a number"),
        ({"t": True}, "must be a number"),
        ({"t": "10"}, "must be a number"),
        ({"note": "x"}, "needs its time t"),
        ({"t": 5, "note": "x" * 10_000}, "10000 characters; at most 500"),
        ({"t": 5, "note": 7}, "note must be text"),
        ({"t": 5, "end": 5}, "must come after t"),
        ({"t": 5, "end": 70}, "after the recording's end"),
        ({"t": 5, "colour": "red"}, "unknown marker field 'colour'"),
        (["t", 5], "a marker is a JSON object"),
    ],
)
def test_a_bad_marker_is_refused_naming_the_problem(marker, expected):
    with pytest.raises(markers.MarkerError, match=re.escape(expected)):
        markers.check(marker, duration=60.0)


def test_markers_are_kept_in_order_cleaned_and_written_whole(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    a = {"id": "a1", **markers.check({"t": 20, "note": "  wedding   photo "})}
    b = {"id": "b2", **markers.check({"t": 5, "end": 9.5})}
    assert markers.edit(folder, lambda ms: [*ms, a, b]) == [b, a]
    assert a["note"] == "wedding photo" and b["note"] == "" and markers.label(b) == "marker at 0:05.0"
    assert markers.read(folder / markers.FILE) == [b, a]
    assert [p.name for p in folder.iterdir()] == [markers.FILE], "no temp file left"
    with pytest.raises(markers.NoSuchMarker, match="no marker 'zz'"):
        markers.edit(folder, lambda ms: [markers.find(ms, "zz")])
    assert markers.read(folder / markers.FILE) == [b, a], "a failed edit changes nothing"


def test_each_persons_response_to_each_marker():
    marks = [{"id": "m30", **markers.check({"t": 30, "note": "wedding photo"})},
             {"id": "m10", **markers.check({"t": 10, "note": "hello"})}]
    s = session_summary(two_people(), names={"0": "Mary"}, markers=sorted(marks, key=lambda m: m["t"]))
    hello, photo = s["markers"]
    mary = photo["people"]["Mary"]
    # [10, 30): 40 faces of 0.5 s, all sad; [30, 50): 40 faces, all happy.
    assert mary["before"]["seconds"] == 20 and mary["after"]["seconds"] == 20
    assert mary["before"]["valence_share"]["negative"] == 1 and mary["after"]["valence_share"]["positive"] == 1
    assert mary["change"] == {"positive": 1.0, "neutral": 0.0, "negative": -1.0} and mary["enough"]
    other = photo["people"]["person 1"]  # gone at 32 s: 2 s of face after the photo
    assert other["after"]["seconds"] == 2 and not other["enough"] and other["change"] is None
    assert hello["people"]["Mary"]["before"]["seconds"] == 10 and hello["people"]["Mary"]["change"]["positive"] == 0
    ranked = [(r["person"], r["marker"], r["enough"]) for r in s["reached"]]
    assert ranked == [("Mary", "m30", True), ("Mary", "m10", True), ("person 1", "m10", True),
                      ("person 1", "m30", False)]
    # A marker with an end: the window after it is the prompt itself.
    s = session_summary(two_people(), markers=[{"id": "e", **markers.check({"t": 30, "end": 35})}])
    assert s["markers"][0]["people"]["person 0"]["after"]["seconds"] == 5
    assert s["markers"][0]["after"] == [30, 35]


def test_report_with_markers_draws_them_and_tables_the_responses(tmp_path):
    log = tmp_path / "s.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in two_people()))
    (tmp_path / "m.json").write_text(json.dumps([{"t": 30, "note": "wedding <photo>"}]))
    result = CliRunner().invoke(app, ["report", str(log), "--markers", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "s_report.html").read_text()
    assert page.count('<g class="marker"') == 2, "on both timelines"
    assert "wedding &lt;photo&gt;" in page and "<photo>" not in page
    assert '<section class="prompt"' in page and "+100 pts" in page and "not enough data" in page
    summary = json.loads((tmp_path / "s_summary.json").read_text())
    assert summary["markers"][0]["people"]["person 0"]["change"]["positive"] == 1.0
    # Bad markers: one error line, nothing written.
    (tmp_path / "s_report.html").unlink()
    for content, expected in (('[{"t": 99}]', "marker 1 (marker at 1:39.0): t = 99 s is outside the recording"),
                              ("{not json", "is not JSON"), ('[{"t": 1, "note": "' + "x" * 10_000 + '"}]', "at most")):
        (tmp_path / "m.json").write_text(content)
        result = CliRunner().invoke(app, ["report", str(log), "--markers", str(tmp_path / "m.json")])
        assert result.exit_code == 1 and result.output.startswith("error: ") and expected in result.output, \
            result.output
        assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "s_report.html").exists()
    result = CliRunner().invoke(app, ["report", str(log), "--markers", str(tmp_path / "none.json")])
    assert result.exit_code == 1 and "file not found" in result.output


def test_a_person_across_sessions(tmp_path):
    root = tmp_path / "sessions"
    make_session(root, "20261101-100000-aaaa", two_people(), {"0": "Mary", "1": "John"},
                 [{"t": 30, "note": "wedding photo"}], started="2026-11-01T10:00:00+00:00")
    # A week later: Mary (typed " mary ") happy throughout, John unnamed; and a session with no names at all.
    later = [{"frame": i, "t": i * 0.5, "faces": [face("happy", 3), face("sad", 4)]} for i in range(40)]
    make_session(root, "20261108-100000-bbbb", later, {"3": " mary "}, started="2026-11-08T10:00:00+00:00")
    make_session(root, "20261109-100000-cccc", later, started="2026-11-09T10:00:00+00:00")
    found, skipped = history.collect(root)
    assert skipped == [] and list(found) == ["john", "mary"]
    mary = found["mary"]
    assert mary["name"] == "Mary" and mary["spellings"] == ["Mary", "mary"]
    assert [r["id"] for r in mary["sessions"]] == ["20261101-100000-aaaa", "20261108-100000-bbbb"]
    assert mary["sessions"][1]["valence_share"]["positive"] == 1 and mary["sessions"][1]["seconds_seen"] == 20
    assert mary["sessions"][0]["valence_share"]["negative"] == 0.5  # 30 s sad of 60
    assert [p["label"] for p in mary["top_prompts"]] == ["wedding photo"]
    assert mary["top_prompts"][0]["positive_change"] == 1.0
    assert found["john"]["top_prompts"] == [], "2 s of face after the photo is not a finding"

    out = CliRunner().invoke(app, ["people", "--sessions", str(root)])
    assert out.exit_code == 0, out.output
    assert "Mary: 2 sessions" in out.output and "moved by: wedding photo (2026-11-01): positive +100%" in out.output
    as_json = json.loads(CliRunner().invoke(app, ["people", "--sessions", str(root), "--json"]).output)
    assert [p["name"] for p in as_json["people"]] == ["John", "Mary"]
    bad = CliRunner().invoke(app, ["people", "--sessions", str(tmp_path / "nowhere")])
    assert bad.exit_code == 1 and bad.output.startswith("error: ")


def test_erasing_a_person_leaves_the_others_and_her_name_nowhere(tmp_path):
    root = tmp_path / "sessions"
    first = make_session(root, "20261101-100000-aaaa", two_people(), {"0": "Mary", "1": "John"},
                         [{"t": 30, "note": "Mary's wedding photo"}], name="Mary and John",
                         source="upload: mary_visit.mp4", recording="recording.webm", annotated_video="annotated.webm")
    (first / "recording.webm").write_bytes(b"video")
    (first / "annotated.webm").write_bytes(b"video")
    (first / "session_report.html").write_text("<p>Mary</p>")
    later = [{"frame": i, "t": i * 0.5, "faces": [face("happy", 3)]} for i in range(10)]
    second = make_session(root, "20261108-100000-bbbb", later, {"3": "John"}, recording="/elsewhere/john.mp4")
    before = read_log(first / sessions.LOG).records

    assert privacy.preview(root, "mary") == {"sessions": [{"id": first.name, "name": "Mary and John"}],
                                             "videos": [f"{first.name}/annotated.webm",
                                                        f"{first.name}/recording.webm"],
                                             "recordings_elsewhere": []}
    done = privacy.erase(root, " MARY ")
    assert done["sessions"] == [first.name] and done["face_records"] == 120
    assert sorted(done["videos_deleted"]) == [f"{first.name}/annotated.webm", f"{first.name}/recording.webm"]
    after = read_log(first / sessions.LOG).records
    assert [r["frame"] for r in after] == [r["frame"] for r in before], "every frame stays"
    assert [[f["id"] for f in r["faces"]] for r in after] == [[f["id"] for f in r["faces"] if f["id"] != 0]
                                                             for r in before]
    assert not (first / "recording.webm").exists() and not (first / "annotated.webm").exists()
    assert not (first / "session_report.html").exists()
    for path in root.rglob("*"):
        if path.is_file():
            assert "mary" not in path.read_text(errors="replace").lower(), path
    meta = sessions.read_meta(first)
    assert meta["names"] == {"1": "John"} and meta["name"] == "[erased] and John"
    assert markers.read(first / markers.FILE)[0]["note"] == "[erased]'s wedding photo"
    assert sessions.read_meta(second)["recording"] == "/elsewhere/john.mp4", "John's session untouched"
    found, _ = history.collect(root)
    assert list(found) == ["john"] and len(found["john"]["sessions"]) == 2
    assert privacy.erase(root, "Mary")["sessions"] == [], "nothing left to erase"


def test_erasing_ann_leaves_annual(tmp_path):
    root = tmp_path / "sessions"
    make_session(root, "20261101-100000-aaaa", two_people(), {"0": "Ann"}, name="Annual review with Ann")
    privacy.erase(root, "Ann")
    assert sessions.read_meta(root / "20261101-100000-aaaa")["name"] == "Annual review with [erased]"


def test_sessions_older_than_the_retention_are_deleted(tmp_path):
    root = tmp_path / "sessions"
    now = datetime.now(UTC)
    old = make_session(root, "20261001-100000-aaaa", two_people(10), started=(now - timedelta(days=31)).isoformat())
    busy = make_session(root, "20261002-100000-bbbb", two_people(10), started=(now - timedelta(days=40)).isoformat())
    new = make_session(root, "20261105-100000-cccc", two_people(10), started=(now - timedelta(days=2)).isoformat())
    assert privacy.delete_expired(root, 30, running={busy.name}) == [old.name]
    assert not old.exists() and busy.exists() and new.exists()
    assert "30 days" in privacy.retention_note(30) and "until you delete" in privacy.retention_note(None)
