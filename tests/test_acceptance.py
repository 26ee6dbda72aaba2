"""The README's journeys, typed literally in a fresh clone with nothing activated and the system PATH only.

A `git clone` of the committed HEAD, a tiny synthetic CSV and shrunk params; then `make repro`,
`.venv/bin/ferops predict`, `.venv/bin/ferops webcam --headless`, `.venv/bin/ferops report` and
`.venv/bin/dvc metrics show`, each checked on what it prints and writes. The venv is installed from
scratch (pip's cache makes it quick); the test prints how long that took.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from support.data import REPO, synthetic_rows, write_csv
from support.faces import cartoon_face
from ferops.core.fer2013 import EMOTIONS

pytestmark = pytest.mark.slow


def typed(clone: Path, command: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    # env -i: no VIRTUAL_ENV, no MLFLOW_TRACKING_URI, no FER2013_CSV, the system PATH; HOME for pip's cache.
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        ["/bin/sh", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def test_readme_journeys_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "ferops"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    assert not (clone / ".venv").exists()
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["train"].update(epochs=1, batch_size=16, patience=1, warmup_epochs=0)
    params["export"]["min_accuracy"] = 0.0
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # A known location the data stage looks in (README "The data"), linked to the tracked path.
    write_csv(clone / "data" / "raw" / "fer2013.csv", synthetic_rows(per_class=4))

    install_start = time.monotonic()
    typed(clone, "make install")
    install_s = time.monotonic() - install_start
    start = time.monotonic()
    repro = typed(clone, "make repro")
    print(f"\nfresh venv install {install_s:.0f}s; make repro (after install) {time.monotonic() - start:.0f}s")
    out = repro.stdout
    assert "data: linked data/raw/fer2013.csv.gz -> data/raw/fer2013.csv" in out
    for stage in ("data", "ingest", "preprocess", "train", "evaluate", "export"):
        assert f"Running stage '{stage}'" in out, out[-3000:]
    assert "ingest: 84 valid rows, 0 rejected" in out
    assert "train: CPU " in out and "precision " in out
    assert "export: fer version 1 promoted to production" in out
    decision = json.loads((clone / "models" / "export.json").read_text())
    assert decision["promoted"] is True and decision["version"] == "1"
    assert (clone / "mlflow.db").is_file() and not (tmp_path / "mlflow.db").exists()

    status = typed(clone, ".venv/bin/dvc status")
    assert "up to date" in status.stdout

    metrics = typed(clone, ".venv/bin/dvc metrics show")
    table = metrics.stdout
    assert "metrics/evaluate.json" in table and "metrics/train.json" in table
    assert "metrics/valence.json" in table, "valence figures beside the emotions' before promotion"
    assert "train_history" not in table, "the per-epoch history is a plot, not a metric"
    assert max(len(cell) for cell in table.split()) < 40, "readable numbers, no 1,500-character history string"
    accuracy = json.loads((clone / "metrics" / "evaluate.json").read_text())["test_accuracy"]
    assert f"{accuracy:.5g}" in table  # dvc metrics show's default: 5 significant digits

    # .venv/bin/ferops predict photos/ --annotate annotated/ --json
    (clone / "photos").mkdir()
    cv2.imwrite(str(clone / "photos" / "face.png"), cartoon_face())
    cv2.imwrite(str(clone / "photos" / "wall.png"), np.full((240, 320, 3), 90, np.uint8))
    predicted = typed(clone, ".venv/bin/ferops predict photos/ --annotate annotated/ --json")
    rows = {Path(r["file"]).name: r["faces"] for r in map(json.loads, predicted.stdout.splitlines())}
    assert rows["wall.png"] == []
    (face,) = rows["face.png"]
    x, y, w, h = face["box"]
    assert abs(x + w / 2 - 320) < 40 and abs(y + h / 2 - 240) < 60 and 120 < w < 320, face["box"]
    assert face["label"] in EMOTIONS and 0 < face["confidence"] <= 1
    assert sum(face["probs"].values()) == pytest.approx(1, abs=1e-3)
    annotated = cv2.imread(str(clone / "annotated" / "face.png"))
    assert annotated.shape == (480, 640, 3) and not np.array_equal(annotated, cartoon_face())

    # .venv/bin/ferops webcam --source session.mp4 --headless --log session.jsonl --output annotated.mp4
    writer = cv2.VideoWriter(str(clone / "session.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (640, 480))
    frames = [cartoon_face(shift=4 * k) for k in range(8)] + [np.full((480, 640, 3), 40, np.uint8)] * 4
    for frame in frames:
        writer.write(frame)
    writer.release()
    webcam = typed(
        clone, ".venv/bin/ferops webcam --source session.mp4 --headless --log session.jsonl --output annotated.mp4"
    )
    assert "webcam: processed 12 frames, log session.jsonl, video annotated.mp4" in webcam.stderr
    log = [json.loads(line) for line in (clone / "session.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in log] == list(range(12))
    assert all(len(r["faces"]) == 1 for r in log[:8]) and all(r["faces"] == [] for r in log[8:])
    assert {r["faces"][0]["id"] for r in log[:8]} == {0}, "one person, one identity across frames"
    assert [r["t"] for r in log] == pytest.approx([k / 15 for k in range(12)], abs=1e-3), "time of the recording"
    video = cv2.VideoCapture(str(clone / "annotated.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    video.release()

    # .venv/bin/ferops report session.jsonl
    report = typed(clone, ".venv/bin/ferops report session.jsonl")
    assert report.stdout.startswith("report: ")
    page = (clone / "session_report.html").read_text()
    assert "<svg" in page and "src=" not in page, "one self-contained HTML file"
    summary = json.loads((clone / "session_summary.json").read_text())
    (person,) = summary["people"].values()
    assert person["observations"] == 8 and sum(person["share"].values()) == pytest.approx(1, abs=1e-3)
    assert "person 0" in page and "12 frames" in page
    assert sum(person["valence_share"].values()) == pytest.approx(1, abs=1e-3) and "Valence" in page

    # .venv/bin/ferops report session.jsonl --names names.json   (the README's names file: track -> name)
    (clone / "names.json").write_text(json.dumps({"0": "Mary"}))
    typed(clone, ".venv/bin/ferops report session.jsonl --names names.json")
    summary = json.loads((clone / "session_summary.json").read_text())
    assert list(summary["people"]) == ["Mary"] and summary["people"]["Mary"]["tracks"] == [0]
    assert "Mary" in (clone / "session_report.html").read_text()

    # Nothing the journeys did touched a tracked file.
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=clone, capture_output=True, text=True
    )
    assert set(changed.stdout.split()) <= {
        "M",
        "params.yaml",
        "dvc.lock",
        "metrics/evaluate.json",
        "metrics/train.json",
        "metrics/train_history.csv",
        "metrics/valence.json",
        "reports/evaluation.json",
        "reports/ingest_counts.json",
        "reports/reliability.json",
    }
