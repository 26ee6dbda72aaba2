"""REST server memory under a hostile mix: its size after the first request, then after 1,000 mixed
requests at concurrency 4, in one run (the target: within 20% of the size after the first).

    .venv/bin/python benchmarks/serve_memory.py [--model-uri models:/fer@production] [--requests 1000]

Without --model-uri it registers models/model.keras (or an untrained fer_cnn: same memory) in a temp
store, as serve_latency.py does. Every input is made here (a portrait matplotlib ships, noise,
hand-built headers); nothing comes from FER-2013. Size = resident memory of the mlflow CLI and its
uvicorn worker together. The mix, by weight: one photo with faces found (55), eight 48x48 crops
(10), sixteen photos with faces found (6), 64 photos each taken as one face (2), a 16-bit PNG with
faces found (5), and refusals: invalid base64 (6), 3,000 records (4), a 30000x30000 PNG (4), 100,000
nested brackets (4), random bytes (4). Every answer's status is checked too (200, or 400 for the refusals).
"""

import argparse
import base64
import json
import random
import sys
import tempfile
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from common import REPO
from results import Printed, write_results
from serve_latency import register_temp_model

sys.path.insert(0, str(REPO / "tests"))


def huge_png(side: int = 30000) -> bytes:
    """A whole, valid 8-bit grey PNG of side x side zeros (under a megabyte compressed)."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pack = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(pack.compress(row) for _ in range(side)) + pack.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def bodies() -> dict[str, tuple[int, int, object]]:
    """kind -> (weight, expected status, a function of a Random that makes one request body)."""
    import cv2

    from ferops.runtime.imaging import encode_png
    from support.serving import hopper_photos, records

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    photos = [b64(cv2.imencode(".jpg", p)[1].tobytes()) for p in hopper_photos()]
    crop = encode_png(np.full((48, 48), 100, np.uint8))
    deep16 = encode_png(hopper_photos()[1].astype(np.uint16) * 257)
    huge = b64(huge_png())

    def request(images, detect=False) -> bytes:
        body = records(*images)
        return json.dumps({**body, "params": {"detect_faces": True}} if detect else body).encode()

    return {
        "photo": (55, 200, lambda r: request([r.choice(photos)], detect=True)),
        "crops8": (10, 200, lambda r: request([crop] * 8)),
        "photos16": (6, 200, lambda r: request([r.choice(photos) for _ in range(16)], detect=True)),
        "photos64": (2, 200, lambda r: request([r.choice(photos) for _ in range(64)])),
        "png16bit": (5, 200, lambda r: request([deep16], detect=True)),
        "bad_base64": (6, 400, lambda r: request(["@@not base64@@"])),
        "bad_3000": (4, 400, lambda r: request([crop] * 3000)),
        "bad_huge": (4, 400, lambda r: request([huge], detect=True)),
        "bad_nested": (4, 400, lambda r: b"[" * 100_000 + b"]" * 100_000),
        "bad_bytes": (4, 400, lambda r: request([b64(r.randbytes(5000))])),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-uri", default=None)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    from support.processes import clean_env, mlflow_process
    from support.serving import post, server_rss
    from ferops.core.tracking import tracking_uri
    from ferops.registry.names import PRODUCTION_URI

    kinds = bodies()
    rng = random.Random(2)
    plan = rng.choices(list(kinds), weights=[w for w, _, _ in kinds.values()], k=args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        uri = tracking_uri() if args.model_uri else register_temp_model(Path(tmp))
        model_uri = args.model_uri or PRODUCTION_URI
        serve = ("models", "serve", "-m", model_uri, "--env-manager", "local")
        with mlflow_process(*serve, health="/ping", env=clean_env(MLFLOW_TRACKING_URI=uri)) as url:
            assert post(url, kinds["photo"][2](random.Random(0)))[0] == 200
            first = server_rss(url)

            def one(i: int) -> tuple[str, int]:
                kind = plan[i]
                return kind, post(url, kinds[kind][2](random.Random(i)))[0]

            start, peak, answers = time.perf_counter(), first, []
            with ThreadPoolExecutor(args.concurrency) as pool:
                for i, answer in enumerate(pool.map(one, range(args.requests))):
                    answers.append(answer)
                    if i % 50 == 0:
                        peak = max(peak, server_rss(url))
            after = server_rss(url)
    wrong = Counter((kind, status) for kind, status in answers if status != kinds[kind][1])
    out = Printed()
    out(
        f"model: {model_uri}; {args.requests} requests at concurrency {args.concurrency} in "
        f"{time.perf_counter() - start:.0f} s: {dict(Counter(plan))}"
    )
    out(f"unexpected statuses: {dict(wrong) or 'none'}")
    out(
        f"server memory after the first request {first / 2**20:.0f} MB, sampled peak {peak / 2**20:.0f} MB, "
        f"after all {after / 2**20:.0f} MB: ratio {after / first:.3f} "
        f"(target <= 1.2: {'PASS' if after <= 1.2 * first and not wrong else 'FAIL'})"
    )
    write_results("serve_memory", out)


if __name__ == "__main__":
    main()
