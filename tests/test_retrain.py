"""scripts/retrain.sh end to end against a local DVC remote (a temp folder), as CI runs it."""

import json
import shutil
import subprocess

import mlflow
import pytest

from support.data import REPO, synthetic_rows, write_csv
from support.processes import clean_env
from support.pipeline import dvc, make_pipeline_copy
from ferops.core import venv

pytestmark = pytest.mark.slow
GIT = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]


def test_retrain_script_pull_repro_push_a_noop_and_a_data_change(tmp_path):
    remote, registry = tmp_path / "remote", f"sqlite:///{tmp_path / 'team.db'}"
    origin = tmp_path / "origin"
    origin.mkdir()
    make_pipeline_copy(origin)
    (origin / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "retrain.sh", origin / "scripts" / "retrain.sh")
    env = clean_env(MLFLOW_TRACKING_URI=registry)
    # Team set-up: the data is the `data` stage's output; record it and push it like any output.
    assert dvc(origin, "repro", "data").returncode == 0
    assert dvc(origin, "remote", "add", "-d", "--local", "team", str(remote)).returncode == 0
    assert dvc(origin, "push").returncode == 0
    subprocess.run([*GIT, "add", "-A"], cwd=origin, check=True)
    subprocess.run([*GIT, "commit", "-qm", "tiny synthetic dataset"], cwd=origin, check=True)
    pushed = {p.name for p in remote.rglob("*") if p.is_file()}

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    assert not (clone / "data" / "raw" / "fer2013.csv").exists(), "data comes from the remote, not git"

    def run(repo, **extra):
        return subprocess.run(
            ["bash", "scripts/retrain.sh"],
            cwd=repo,
            capture_output=True,
            text=True,
            env={**env, "DVC_REMOTE_URL": str(remote), "BASE_REF": "HEAD", **extra},
            timeout=900,
        )

    def versions():
        mlflow.set_tracking_uri(registry)
        mlflow.set_registry_uri(registry)
        return sorted(int(v.version) for v in mlflow.MlflowClient().search_model_versions("name='fer'"))

    # The default branch's run (RECORD_LOCK=1) commits the new dvc.lock.
    first = run(clone, RECORD_LOCK="1")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Running stage 'train'" in first.stdout
    assert (clone / "data" / "raw" / "fer2013.csv").exists(), "pulled"
    assert len({p.name for p in remote.rglob("*") if p.is_file()} - pushed) >= 2, "outputs pushed to the remote"
    comment = (clone / "reports" / "pr_comment.md").read_text()
    assert "accuracy" in comment and "confusion.png" in comment
    assert "retrain: committed dvc.lock" in first.stdout
    log = subprocess.run(["git", "log", "-1", "--name-only", "--format=%s"], cwd=clone, capture_output=True, text=True)
    assert log.stdout.startswith("retrain: record dvc.lock") and "dvc.lock" in log.stdout.splitlines()
    assert versions() == [1]

    # A fresh clone of that commit, nothing changed: every output comes back from the remote, nothing reruns.
    again = tmp_path / "again"
    subprocess.run(["git", "clone", "-q", str(clone), str(again)], check=True)
    assert not (again / "models" / "export.json").exists()
    noop = run(again, RECORD_LOCK="1")
    assert noop.returncode == 0, noop.stdout[-3000:] + noop.stderr[-3000:]
    assert "Running stage" not in noop.stdout, noop.stdout
    assert "dvc.lock unchanged" in noop.stdout
    assert json.loads((again / "models" / "export.json").read_text())["version"] == "1", "restored from the remote"
    assert versions() == [1], "nothing registered twice"

    # A changed dataset makes the pipeline stale, and a retrain registers a new version.
    write_csv(again / "data" / "raw" / "fer2013.csv", synthetic_rows(per_class=4, seed=7))
    status = dvc(again, "status", env=env)
    assert "ingest" in status.stdout and "changed deps" in status.stdout, status.stdout
    # Recorded (as a data change is committed) before the retrain, whose `dvc pull` never overwrites
    # a data file that differs from dvc.lock.
    assert dvc(again, "repro", "data", env=env).returncode == 0
    second = run(again)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Running stage 'train'" in second.stdout
    assert versions() == [1, 2]
    assert json.loads((again / "models" / "export.json").read_text())["version"] == "2"


def test_pull_request_runs_never_promote(tmp_path):
    """FEROPS_PROMOTE=0 (pull requests) registers the model but leaves production alone."""
    repo = make_pipeline_copy(tmp_path)
    result = dvc(repo, "repro", env=clean_env(FEROPS_PROMOTE="0"))
    assert result.returncode == 0, result.stderr[-2000:]
    decision = json.loads((repo / "models" / "export.json").read_text())
    assert decision["promoted"] is False and "FEROPS_PROMOTE=0" in decision["reason"]


def test_workflows_pass_actionlint():
    actionlint = venv.executable("actionlint")
    files = sorted(str(p) for p in (REPO / ".github" / "workflows").glob("*.yml"))
    assert len(files) == 2
    result = subprocess.run([actionlint, *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
