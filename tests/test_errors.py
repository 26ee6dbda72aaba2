"""One FerOpsError base: the edges (CLI commands, DVC stages, a session's thread) word it in one line; any other
exception is a bug and keeps its traceback."""

import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from ferops.apps import report
from ferops.apps.cli import app
from ferops.core import stage
from ferops.core.errors import FerOpsError


def raising(error: BaseException):
    def fail(*args, **kwargs):
        raise error

    return fail


def test_every_error_ferops_words_is_a_ferops_error_and_keeps_its_older_base():
    from ferops.apps import photos, sessions
    from ferops.recording import framelog, videosource
    from ferops.recording import people
    from ferops.core import config, lock, tracking
    from ferops.data import ingest, source
    from ferops.registry import loading
    from ferops.runtime import faces, imaging

    for error, older in [
        (config.ParamsError, ValueError), (tracking.StoreError, ValueError), (lock.Busy, OSError),
        (source.DataError, ValueError), (ingest.IngestError, ValueError), (imaging.InputError, ValueError),
        (faces.UnknownDetector, ValueError), (loading.ModelNotFound, RuntimeError),
        (sessions.LibraryError, RuntimeError), (report.ReportError, ValueError),
        (videosource.SourceError, RuntimeError),
        (framelog.OutputError, RuntimeError), (photos.AnnotateError, RuntimeError), (people.NamesError, ValueError),
    ]:
        assert issubclass(error, FerOpsError) and issubclass(error, older), error


def test_a_ferops_error_inside_a_command_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "write_report", raising(FerOpsError("the log is from the future")))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "session.jsonl")])
    assert result.exit_code == 1 and result.output == "error: the log is from the future\n"


@pytest.mark.parametrize("error", [KeyError("probs"), ValueError("a bug in Keras"), RuntimeError("oops")])
def test_an_unexpected_error_inside_a_command_is_not_made_an_error_line(tmp_path, monkeypatch, error):
    monkeypatch.setattr(report, "write_report", raising(error))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "session.jsonl")])
    assert result.exit_code == 1 and result.exception is error, "raised as it is, with its traceback"
    assert "error:" not in result.output


UNEXPECTED = """
import sys
from ferops.apps import cli, report
from ferops.core.errors import FerOpsError

def write_report(*args, **kwargs):
    raise {error}

report.write_report = write_report
sys.argv = ["ferops", "report", "session.jsonl"]
cli.app()
"""


def test_as_a_process_the_bug_shows_its_traceback_and_the_known_problem_one_line(tmp_path):
    def run(error: str) -> subprocess.CompletedProcess:
        code = UNEXPECTED.format(error=error)
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)

    bug = run("KeyError('probs')")
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "KeyError" in bug.stderr, bug.stderr[-2000:]
    assert "write_report" in bug.stderr and "error: " not in bug.stderr, "where it broke, not a one-liner"
    known = run("FerOpsError('session.jsonl: no records')")
    assert known.returncode == 1 and known.stderr == "error: session.jsonl: no records\n", known.stderr[-2000:]


def test_a_stage_words_a_ferops_error_and_a_missing_file_and_lets_a_bug_through(capsys):
    from ferops.core.lock import Busy

    for error in (FerOpsError("params.yaml: unknown key x"), Busy("checkpoint folder is in use"),
                  FileNotFoundError("models/model.keras")):
        with pytest.raises(SystemExit) as e:
            stage.main(raising(error))
        assert e.value.code == 1 and capsys.readouterr().err == f"error: {error}\n"
    for error in (KeyError("x_val"), ValueError("could not broadcast"), RuntimeError("graph execution error")):
        with pytest.raises(type(error)):
            stage.main(raising(error))
        assert capsys.readouterr().err == ""


def test_a_session_thread_records_a_bug_and_prints_its_traceback(tmp_path, capfd):
    from support.apps import BrightnessClassifier, webm_video
    from ferops.recording import videosource
    from ferops.apps.session_runner import SessionRunner

    class BrokenDetector:
        def detect(self, image):
            raise KeyError("landmarks")

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "session.json").write_text("{}")
    source = videosource.open_source(str(webm_video(tmp_path / "v.webm", 3)))
    runner = SessionRunner(tmp_path / "s", source, BrokenDetector(), BrightnessClassifier(), False).start()
    deadline = time.monotonic() + 60
    while runner.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.state == "failed" and runner.error == "KeyError: 'landmarks'"
    err = capfd.readouterr().err
    assert "Traceback" in err and "in detect" in err and "KeyError: 'landmarks'" in err
