"""REST serving speed: requests/s and p50/p99 latency of `mlflow models serve` at concurrency 1, 4 and 16
for single-face requests, and the in-process pyfunc throughput on the same request, in one run.

    .venv/bin/python benchmarks/serve_latency.py [--model-uri models:/fer@production] [--requests 300]

Without --model-uri it registers models/model.keras (or an untrained fer_cnn: same cost) in a temp store.
Target: p50 under 20 ms at concurrency 1.
"""

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from common import REPO
from results import Printed, write_results

sys.path.insert(0, str(REPO / "tests"))


def register_temp_model(work: Path) -> str:
    import mlflow

    from ferops.registry import export
    from ferops.training import architectures

    keras_file = REPO / "models" / "model.keras"
    if not keras_file.is_file():
        keras_file = work / "model.keras"
        architectures.build("fer_cnn").save(keras_file)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment("bench", artifact_location=(work / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=exp):
        export.register_and_promote(keras_file, {"val_accuracy": 1.0}, {"min_accuracy": 0, "tolerance": 0}, {})
    return uri


def worker(port: int, body: bytes, count: int, latencies: list, errors: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            errors.append(response.status)
    conn.close()


def load(port: int, body: bytes, concurrency: int, total: int) -> tuple[float, float, float, int]:
    latencies: list[float] = []
    errors: list[int] = []
    per = max(1, total // concurrency)
    threads = [threading.Thread(target=worker, args=(port, body, per, latencies, errors)) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return len(latencies) / wall, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(errors)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-uri", default=None)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    import mlflow
    import pandas as pd

    from support.processes import clean_env, mlflow_process
    from ferops.runtime.imaging import encode_png
    from ferops.core.tracking import tracking_uri
    from ferops.registry.names import PRODUCTION_URI

    with tempfile.TemporaryDirectory() as tmp:
        uri = tracking_uri() if args.model_uri else register_temp_model(Path(tmp))
        model_uri = args.model_uri or PRODUCTION_URI
        face = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
        image = encode_png(face)
        body = json.dumps({"dataframe_records": [{"image": image}]}).encode()

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        pyfunc = mlflow.pyfunc.load_model(model_uri)  # the pyfunc itself: what the server runs
        frame = pd.DataFrame({"image": [image]})
        for _ in range(20):
            pyfunc.predict(frame)
        n, start = 300, time.perf_counter()
        for _ in range(n):
            pyfunc.predict(frame)
        in_process = n / (time.perf_counter() - start)

        serve = ("models", "serve", "-m", model_uri, "--env-manager", "local")
        with mlflow_process(*serve, health="/ping", env=clean_env(MLFLOW_TRACKING_URI=uri)) as url:
            port = int(url.rsplit(":", 1)[1])
            load(port, body, 1, 30)  # warm-up
            out = Printed()
            out(f"model: {model_uri}; single-face requests (48x48 PNG, base64)")
            out(f"in-process pyfunc.predict: {in_process:7.1f} req/s")
            for c in (1, 4, 16):
                rps, p50, p99, errors = load(port, body, c, args.requests)
                note = f"  (target p50 < 20 ms: {'PASS' if p50 < 20 else 'FAIL'})" if c == 1 else ""
                out(
                    f"concurrency {c:2d}: {rps:7.1f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  errors {errors}"
                    f"  | server/in-process {rps / in_process:4.2f}{note}"
                )
    write_results("serve_latency", out)


if __name__ == "__main__":
    main()
