"""DVC stage ingest: validate the FER-2013 CSV; keep valid rows, list the rejects."""

import csv
import time

import mlflow

from ferops.core import config, io, stage, tracking
from ferops.data import ingest, split


def run() -> None:
    params = config.load_params()
    tracking.setup()  # an unreachable tracking server fails here, before any work
    path = config.data_csv(params)
    start = time.perf_counter()
    table, rejects = ingest.ingest(path)
    seconds = time.perf_counter() - start
    split.save_table(table, config.TABLE)
    with io.atomic_path(config.REJECTS) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "reason"])
        writer.writerows((r.line, r.reason) for r in rejects)
    counts = ingest.counts(table)
    counts["total"]["rejected"] = len(rejects)
    io.write_json(config.INGEST_COUNTS, counts)  # a plain output: counts are not metrics
    print(f"ingest: {len(table)} valid rows, {len(rejects)} rejected ({config.REJECTS}) in {seconds:.1f}s")

    with mlflow.start_run(run_name="ingest", tags={"stage": "ingest", **tracking.lineage_tags(path)}):
        mlflow.log_param("csv", str(path))
        mlflow.log_metrics({"valid_rows": len(table), "rejected_rows": len(rejects), "ingest_seconds": seconds})
        mlflow.log_dict(counts, "ingest_counts.json")
        mlflow.log_artifact(str(config.REJECTS))


if __name__ == "__main__":
    stage.main(run)
