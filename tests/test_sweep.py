"""`ferops sweep`: 2 trials x 1 epoch on a tiny synthetic CSV, on a local Ray, log 2 MLflow runs."""

from __future__ import annotations

import mlflow
import pytest
import yaml
from typer.testing import CliRunner

from support.data import REPO, synthetic_rows, write_csv
from ferops.apps.cli import app

pytest.importorskip("ray", reason="the scale extra (ray) is not installed: pip install -e '.[scale]'")

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # a Ray start and two TensorFlow trainings


def test_sweep_two_trials_log_two_mlflow_runs(tmp_path, monkeypatch):
    csv = write_csv(tmp_path / "fer.csv", synthetic_rows(per_class=4))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)  # mlflow exports both when set; undone after the test
    monkeypatch.chdir(tmp_path)  # the experiment's artifact folder lands here, not in the repository
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            "--trials",
            "2",
            "--epochs",
            "1",
            "--csv",
            str(csv),
            "--params",
            str(REPO / "params.yaml"),
            "--storage",
            str(tmp_path / "tune"),
        ],
    )
    assert result.exit_code == 0, result.output
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["ferops"], filter_string="tags.stage = 'sweep'")
    assert len(runs) == 2
    assert runs["tags.sweep_id"].nunique() == 1 and (runs["params.epochs"] == "1").all()
    assert runs["params.learning_rate"].nunique() == 2, "each trial logs its own drawn values"
    assert runs["metrics.final_val_accuracy"].between(0, 1).all()
    # The printed block is valid params.yaml and is the best run's values.
    best = yaml.safe_load(result.stdout)["train"]  # stdout is only the block: `ferops sweep > best.yaml`
    top = runs.sort_values("metrics.final_val_accuracy", ascending=False).iloc[0]
    assert best["learning_rate"] == pytest.approx(float(top["params.learning_rate"]), rel=1e-3)
    assert best["batch_size"] == int(top["params.batch_size"]) and "erase" in best["augment"]
    assert f"MLflow run {top['run_id']}" in result.output


def test_sweep_without_data_is_one_error_line(tmp_path):
    result = CliRunner().invoke(
        app, ["sweep", "--csv", str(tmp_path / "none.csv"), "--params", str(REPO / "params.yaml")]
    )
    assert (
        result.exit_code == 1
        and result.output.strip()
        == f"error: training data {tmp_path / 'none.csv'} not found (pass --csv or set FER2013_CSV)"
    )


def sweep_process(tmp_path, *args: str, timeout: float = 240):
    """`ferops sweep` as users run it, on a tiny synthetic CSV; a hang is a TimeoutExpired, never a stuck test."""
    import subprocess

    from support.processes import clean_env
    from ferops.core import venv

    csv = write_csv(tmp_path / "fer.csv", synthetic_rows(per_class=4))
    return subprocess.run(
        [venv.executable("ferops"), "sweep", "--trials", "1", "--epochs", "1", "--csv", str(csv), "--params",
         str(REPO / "params.yaml"), "--storage", str(tmp_path / "tune"), *args],
        cwd=tmp_path, env=clean_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}"),
        capture_output=True, text=True, timeout=timeout,
    )


def test_sweep_to_an_unreachable_cluster_says_so_in_seconds(tmp_path):
    import time

    start = time.monotonic()
    r = sweep_process(tmp_path, "--ray-address", "127.0.0.1:9", timeout=120)  # was: Ray retried forever
    assert r.returncode == 1, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == (
        "error: Ray cluster 127.0.0.1:9 (--ray-address) is unreachable (Connection refused at 127.0.0.1:9 within "
        "5 s); start it (ray start --head), or leave --ray-address and RAY_ADDRESS unset to run Ray on this machine"
    ), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and time.monotonic() - start < 60
    assert not (tmp_path / "mlflow.db").exists(), "refused before any work"


def test_sweep_asking_more_cpus_than_the_cluster_has_is_refused(tmp_path):
    import os
    import re

    r = sweep_process(tmp_path, "--cpus-per-trial", "4096")  # was: the trial waited forever for its CPUs
    assert r.returncode == 1, r.stderr[-2000:]
    line = r.stderr.strip().splitlines()[-1]
    m = re.fullmatch(
        r"error: --cpus-per-trial 4096 is more than the Ray cluster offers: its largest node has (\d+) CPUs "
        r"\((\d+) CPUs on 1 node\); a trial runs on one node, so ask for at most (\d+)", line
    )
    assert m and m[1] == m[2] == m[3] and 0 < int(m[1]) <= os.cpu_count(), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and not (tmp_path / "mlflow.db").exists()
