import json
import re

import pytest
from typer.testing import CliRunner

from ferops.apps.cli import app
from ferops.apps.report import ReportError, read_log, render_html, session_summary


def face(label, conf=0.9, pid=0):
    return {"id": pid, "box": [0, 0, 10, 10], "label": label, "confidence": conf, "probs": {}}


def write_session(path, labels, step=0.5, second=None):
    """One person per label list; `second` adds a second person beside the first."""
    with open(path, "w") as f:
        for i, label in enumerate(labels):
            faces = [face(label)] if label else []
            if second:
                faces.append(face(second[i], pid=1))
            f.write(json.dumps({"frame": i, "t": i * step, "faces": faces}) + "\n")
    return path


def one_line_error(result, expected: str):
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output
    assert "Traceback" not in result.output


def test_each_person_reported_apart(tmp_path):
    """A sad patient beside a smiling therapist is reported sad, not 100 % happy."""
    log = write_session(tmp_path / "s.jsonl", ["sad"] * 10, second=["happy"] * 10)
    s = session_summary(read_log(log).records)
    assert s["frames"] == 10 and s["duration_s"] == 5.0
    assert s["people"]["person 0"]["share"]["sad"] == 1.0 and s["people"]["person 0"]["share"]["happy"] == 0.0
    assert s["people"]["person 1"]["share"]["happy"] == 1.0


def test_no_face_frames_and_recording_time(tmp_path):
    labels = ["happy"] * 4 + [None] * 2 + ["sad"] * 4
    s = session_summary(read_log(write_session(tmp_path / "s.jsonl", labels)).records)
    assert s["frames_without_face"] == 2
    person = s["people"]["person 0"]
    assert person["longest"]["happy"]["start_t"] == 0.0 and person["longest"]["sad"]["start_t"] == 3.0


def test_cut_last_line_is_skipped_with_a_warning(tmp_path):
    log = write_session(tmp_path / "s.jsonl", ["happy"] * 3)
    with open(log, "a") as f:
        f.write('{"frame": 3, "t": 1.5, "fa')  # the crash came mid-write
    session = read_log(log)
    assert len(session.records) == 3 and "line 4 was cut off" in session.warnings[0]
    result = CliRunner().invoke(app, ["report", str(log), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and (tmp_path / "out" / "s_report.html").exists()


@pytest.mark.parametrize(
    "line, expected",
    [
        ("{not json\n", "line 2: not a ferops session record: not JSON"),
        ('{"frame": 1, "t": NaN, "faces": []}\n', "line 2: not a ferops session record: t is not a finite number"),
        (
            '{"frame": 1, "t": 1.0, "faces": [{"label": "joy", "confidence": 0.9}]}\n',
            "line 2: not a ferops session record: unknown label 'joy'",
        ),
        ('{"frame": 1, "t": 1.0, "faces": [{"label": "sad", "confidence": 7}]}\n', "confidence 7 is not between"),
    ],
)
def test_bad_line_names_the_line(tmp_path, line, expected):
    path = write_session(tmp_path / "s.jsonl", ["happy"])
    with open(path, "a") as f:
        f.write(line)
    with pytest.raises(ReportError, match=re.escape(expected)):
        read_log(path)
    one_line_error(CliRunner().invoke(app, ["report", str(path), "--out", str(tmp_path / "o")]), expected)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir()), "nothing written"


def test_binary_file_refused(tmp_path):
    path = tmp_path / "video.mp4"
    path.write_bytes(bytes(range(256)) * 40)
    one_line_error(CliRunner().invoke(app, ["report", str(path)]), "is not a ferops session log (binary data")


def test_out_existing_file_and_unwritable_folder_refused(tmp_path):
    log = write_session(tmp_path / "s.jsonl", ["happy"] * 3)
    existing = tmp_path / "taken.html"
    existing.write_text("keep me")
    one_line_error(CliRunner().invoke(app, ["report", str(log), "--out", str(existing)]), "is an existing file")
    assert existing.read_text() == "keep me"
    # /proc/self refuses new files even to root (tests may run as root, where chmod does not bind)
    one_line_error(CliRunner().invoke(app, ["report", str(log), "--out", "/proc/self/ferops"]), "cannot write")


def test_report_command_writes_one_self_contained_page(tmp_path):
    log = write_session(tmp_path / "session.jsonl", ["neutral"] * 5 + ["happy"] * 5, second=["sad"] * 10)
    result = CliRunner().invoke(app, ["report", str(log), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "session_report.html").read_text()
    assert "<svg" in page and "src=" not in page, "one file: no external images"
    assert "person 0" in page and "person 1" in page and "50.0%" in page and "100.0%" in page
    summary = json.loads((tmp_path / "out" / "session_summary.json").read_text())
    assert summary["people"]["person 1"]["share"]["sad"] == 1.0
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "none.jsonl")])
    one_line_error(missing, "session log not found")


def test_uncertain_shown_as_uncertain(tmp_path):
    path = tmp_path / "s.jsonl"
    with open(path, "w") as f:
        for i in range(8):
            f.write(json.dumps({"frame": i, "t": i * 0.5, "faces": [face("angry", conf=0.3)]}) + "\n")
    s = session_summary(read_log(path).records)
    assert s["people"]["person 0"]["share"]["uncertain"] == 1.0 and s["people"]["person 0"]["share"]["angry"] == 0.0
    assert "url(#unc-emotion)" in render_html("t", s) and s["people"]["person 0"]["valence_share"]["uncertain"] == 1.0


def three_tracks(tmp_path):
    """Mary is tracks 0 (seconds 0-2) and 2 (seconds 3-5, after she came back); track 1 is John."""
    path = tmp_path / "session.jsonl"
    with open(path, "w") as f:
        for i in range(10):
            t = i * 0.5
            faces = [face("happy" if t < 2 else "sad", pid=0 if t < 2 else 2), face("neutral", pid=1)]
            f.write(json.dumps({"frame": i, "t": t, "faces": faces}) + "\n")
    return path


def test_tracks_given_one_name_are_one_person_in_the_report(tmp_path):
    log = three_tracks(tmp_path)
    meta = {"name": "Music", "names": {"0": "Mary", "2": " mary ", "1": "John"}}
    (tmp_path / "session.json").write_text(json.dumps(meta))
    result = CliRunner().invoke(app, ["report", str(log)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "session_summary.json").read_text())
    assert list(summary["people"]) == ["Mary", "John"], "one Mary, in her first spelling"
    mary = summary["people"]["Mary"]
    assert mary["tracks"] == [0, 2] and mary["seconds_seen"] == pytest.approx(5.0)
    assert mary["share"]["happy"] == pytest.approx(0.4) and mary["share"]["sad"] == pytest.approx(0.6)
    assert summary["tracks"] == {"0": "Mary", "1": "John", "2": "Mary"}
    page = (tmp_path / "session_report.html").read_text()
    assert page.count('<section class="person"') == 2 and "(tracks 0, 2)" in page and "Session report: Music" in page
    # --names overrides session.json: un-merged, track 2 is a person of its own again.
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"0": "Mary"}))
    assert CliRunner().invoke(app, ["report", str(log), "--names", str(names)]).exit_code == 0
    summary = json.loads((tmp_path / "session_summary.json").read_text())
    assert list(summary["people"]) == ["Mary", "person 1", "person 2"]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", "is not JSON"),
        ('["Mary"]', "must be a JSON object"),
        ('{"7": "Mary"}', "has no track 7"),
        ('{"0": "   "}', "is empty"),
        ('{"0": "' + "x" * 101 + '"}', "at most 100"),
        ('{"zero": "Mary"}', "is not a track id"),
    ],
)
def test_a_bad_names_file_is_one_error_and_writes_nothing(tmp_path, content, expected):
    log = three_tracks(tmp_path)
    names = tmp_path / "names.json"
    names.write_text(content)
    one_line_error(CliRunner().invoke(app, ["report", str(log), "--names", str(names), "--out", str(tmp_path / "o")]),
                   expected)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
