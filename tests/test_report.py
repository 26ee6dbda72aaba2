import json
import re

import pytest
from typer.testing import CliRunner

from ferops.apps.cli import app
from ferops.apps.report import ReportError, read_log, summarise
from ferops.core.fer2013 import EMOTIONS


def face(label, conf=0.9):
    return {"box": [0, 0, 10, 10], "label": label, "confidence": conf, "probs": {}}


def write_session(path, labels, step=0.5):
    with open(path, "w") as f:
        for i, label in enumerate(labels):
            f.write(json.dumps({"frame": i, "t": i * step, "faces": [face(label)] if label else []}) + "\n")
    return path


def test_summary_shares_stretches_and_no_face(tmp_path):
    labels = ["happy"] * 4 + [None] * 2 + ["sad"] * 2 + ["happy"] * 2
    s = summarise(read_log(write_session(tmp_path / "s.jsonl", labels)))
    assert s["frames"] == 10 and s["duration_s"] == 5.0
    assert s["time_share"]["happy"] == 0.6 and s["time_share"]["sad"] == 0.2
    assert s["longest"]["happy"] == {"start_t": 0.0, "end_t": 2.0, "seconds": 2.0, "frames": 4}
    assert s["frames_without_face"] == 2 and s["no_face_share"] == 0.2


def test_most_confident_face_speaks_for_the_frame(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"frame": 0, "t": 0.0, "faces": [face("sad", 0.4), face("fear", 0.8)]}) + "\n")
    assert read_log(path)[0].label == "fear"


def test_bad_log_names_the_line(tmp_path):
    path = write_session(tmp_path / "s.jsonl", ["happy"])
    with open(path, "a") as f:
        f.write("{not json\n")
    with pytest.raises(ReportError, match="line 2: not a ferops session record"):
        read_log(path)


def test_report_command_writes_png_and_html(tmp_path):
    log = write_session(tmp_path / "session.jsonl", ["neutral"] * 5 + ["happy"] * 5)
    result = CliRunner().invoke(app, ["report", str(log), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "session_report.html").read_text()
    assert 'src="session_timeline.png"' in page
    shares = dict(re.findall(r"<tr><td>(\w+)</td><td>([0-9.]+%)</td>", page))
    assert shares == {e: "0.0%" for e in EMOTIONS} | {"happy": "50.0%", "neutral": "50.0%"}, shares
    assert (tmp_path / "out" / "session_timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 1 and "error: session log not found" in missing.output
