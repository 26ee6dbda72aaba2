"""The pipeline cannot silently go stale, lose track of its data, or clean away what it does not own."""

import hashlib
import subprocess
from pathlib import Path

import yaml

from support.data import REPO, synthetic_rows, write_csv
from support.processes import clean_env
from support.pipeline import dvc, make_pipeline_copy
from ferops.data import source


def stage_outputs(repo: Path) -> list[Path]:
    spec = yaml.safe_load((repo / "dvc.yaml").read_text())
    csv = yaml.safe_load((repo / "params.yaml").read_text())["data"]["csv"]
    paths = []
    for stage in spec["stages"].values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                name = entry if isinstance(entry, str) else next(iter(entry))
                paths.append(repo / name.replace("${data.csv}", csv))
    return paths


def status(repo: Path, *targets: str) -> str:
    result = dvc(repo, "status", *targets)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_code_a_stage_runs_is_its_dependency_and_app_code_is_not(tmp_path):
    repo = make_pipeline_copy(tmp_path)
    for path in stage_outputs(repo):  # stand-in outputs: `dvc status` compares hashes, not content
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text("{}\n")
    committed = dvc(repo, "commit", "-f")
    assert committed.returncode == 0, committed.stderr
    assert "up to date" in status(repo)

    with open(repo / "src" / "ferops" / "apps" / "cli.py", "a") as f:
        f.write("# an edit to the CLI only\n")
    assert "up to date" in status(repo), "the apps are no stage's dependency"
    with open(repo / "src" / "ferops" / "runtime" / "video_faces.py", "a") as f:
        f.write("# an edit to the webcam's video finder, which no stage imports\n")
    assert "up to date" in status(repo), "code no stage imports is no stage's dependency"
    bytecode = repo / "src" / "ferops" / "training" / "__pycache__" / "train.cpython-311.pyc"
    bytecode.parent.mkdir()
    bytecode.write_bytes(b"written by importing the code, as every stage run does")
    assert "up to date" in status(repo), "bytecode is not code (.dvcignore)"

    with open(repo / "src" / "ferops" / "core" / "fer2013.py", "a") as f:
        f.write("# an edit to the module holding the emotion labels\n")
    stale = status(repo)
    for stage in ("ingest", "preprocess", "train", "evaluate", "export"):
        assert f"{stage}:" in stale, stale
    assert "modified:           src/ferops/core/fer2013.py" in stale, stale
    assert "data:" not in stale


def test_dvc_repro_without_the_data_says_how_to_get_it(tmp_path):
    repo = make_pipeline_copy(tmp_path)
    (repo / "data" / "raw" / "fer2013.csv").unlink()
    result = dvc(repo, "repro")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert errors == [f"error: FER-2013 not found at data/raw/fer2013.csv: {source.how_to_get('data/raw/fer2013.csv')}"]
    assert "No such file or directory" not in out and "Traceback" not in out


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_fer2013_csv_pointed_elsewhere_is_what_dvc_records_and_ingest_reads(tmp_path):
    (tmp_path / "repo").mkdir()
    repo = make_pipeline_copy(tmp_path / "repo")
    first = dvc(repo, "repro", "ingest")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "Running stage 'data'" in first.stdout and "up to date" in status(repo, "ingest")

    other = write_csv(tmp_path / "other.csv", synthetic_rows(per_class=2, seed=3))
    # What `make data` runs: the tracked path now holds the other file, so DVC sees the change.
    relinked = subprocess.run(
        ["stages/python", "stages/data.py"],
        cwd=repo,
        env=clean_env(FER2013_CSV=str(other)),
        capture_output=True,
        text=True,
    )
    assert relinked.returncode == 0, relinked.stderr
    assert f"-> {other}" in relinked.stdout
    stale = status(repo, "ingest")
    assert "ingest:" in stale and "data/raw/fer2013.csv" in stale, stale

    second = dvc(repo, "repro", "ingest", env=clean_env(FER2013_CSV=str(other)))
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    recorded = {d["path"]: d["md5"] for d in lock["ingest"]["deps"]}
    assert recorded["data/raw/fer2013.csv"] == md5(other) == md5(repo / "data" / "raw" / "fer2013.csv")
    counts = yaml.safe_load((repo / "reports" / "ingest_counts.json").read_text())
    assert counts["total"]["rows"] == 2 * 7 * 3, counts  # the other file's rows, not the first one's


def test_make_clean_removes_only_generated_files(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    tracked = subprocess.run(["git", "ls-files"], cwd=clone, capture_output=True, text=True, check=True)
    generated = [
        "models/model.keras",
        "models/export.json",
        "data/interim/fer2013_valid.npz",
        "data/interim/train_backup/abc/best.keras",
        "data/processed/fer2013.npz",
        "mlflow.db",
        "mlartifacts/1/model/MLmodel",
        "reports/confusion.png",
        "reports/confusion.csv",
        "dvc_plots/index.html",
    ]
    kept = ["data/raw/fer2013.csv.gz", "reports/my_notes.md"]  # the user's data; an untracked file of theirs
    for name in generated + kept:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_text("x")
    (clone / "metrics" / "train.json").write_text("{}")  # a tracked output, regenerated: still not make's to delete

    result = subprocess.run(["make", "clean"], cwd=clone, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert [name for name in generated if (clone / name).exists()] == []
    assert all((clone / name).exists() for name in kept)
    missing = [f for f in tracked.stdout.splitlines() if not (clone / f).exists()]
    assert missing == [], f"make clean deleted tracked files: {missing}"
    assert (clone / "metrics" / "train.json").read_text() == "{}"
