"""`ferops batch` (Ray Data, all local cores) vs the single-process headless loop, same files, one run.

    .venv/bin/python benchmarks/batch_throughput.py [--model models/model.keras] [--videos 3] [--frames 300]

Videos: 640x480 at 30 fps, two real FER-2013 faces each, drifting. Single process: the webcam
engine (`ferops.apps.live.run`, what `ferops webcam --headless --log` runs) over each file in turn,
the model loaded once beforehand. Batch: `ferops.scale.batch.run` on the same files with Ray already
up (as on a cluster; its start-up is timed and printed apart), everything else counted: hashing,
probing, starting the actors and loading the model in each, decode, detect, classify, tracking,
Parquet writes. Target: >= 1.5x the single process on 2 cores.
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from common import REPO, require_real_csv
from results import Printed, write_results

sys.path.insert(0, str(REPO / "tests"))


def make_video(path: Path, faces: list[np.ndarray], frames: int, phase: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
    for k in range(frames):
        frame = np.full((480, 640, 3), 200, np.uint8)
        dx = int(10 * np.sin(k / 10 + phase))  # people move a little
        for face, (x, y) in zip(faces, [(60, 120), (380, 120)]):
            frame[y : y + 180, x + dx + 10 : x + dx + 190] = cv2.resize(face, (180, 180))[..., None]
        writer.write(frame)
    writer.release()
    return path


def single_process(videos: list[Path], classifier) -> tuple[float, int, int]:
    import json

    from ferops.apps import live
    from ferops.recording import videosource
    from ferops.runtime.faces import live_detector

    frames = faces = 0
    start = time.perf_counter()
    for video in videos:
        log = io.StringIO()
        frames += live.run(videosource.open_source(str(video)), live_detector(), classifier, live.Options(), log=log)
        faces += sum(len(json.loads(line)["faces"]) for line in log.getvalue().splitlines())
    return time.perf_counter() - start, frames, faces


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(REPO / "models" / "model.keras"))
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300, help="frames per video (30 fps)")
    parser.add_argument("--chunk-frames", type=int, default=60)
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    args = parser.parse_args()
    require_real_csv()
    import ray

    from ferops.registry.loading import load_classifier
    from ferops.scale import batch
    from ferops.training.architectures import build
    from support.faces import detectable_faces  # the faces the tests use: ones the live detector finds

    out = Printed()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model)
        if model.is_file():
            out(f"model: {model}")
        else:
            model = Path(tmp) / "untrained.keras"
            build("fer_cnn").save(model)  # same architecture and cost; weights do not change the timing
            out("model: untrained fer_cnn (no models/model.keras yet)")
        faces = detectable_faces(2)
        videos = [make_video(Path(tmp) / f"session{i}.mp4", faces, args.frames, phase=i) for i in range(args.videos)]
        classifier = load_classifier(str(model))
        single_s, frames, single_faces = single_process(videos, classifier)

        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        ray_s = time.perf_counter() - t0
        try:
            result = batch.run(
                [str(v) for v in videos],
                Path(tmp) / "out",
                str(model),
                chunk_frames=args.chunk_frames,
                progress=False,
                log=lambda line: None,
                detector="haar",  # the single process runs the webcam's Haar settings too: like for like
            )
        finally:
            ray.shutdown()
        assert result.frames == frames, (result.frames, frames)
        single_fps, batch_fps, steady = frames / single_s, frames / result.seconds, result.steady_fps()
        ratio = batch_fps / single_fps
        out(
            f"{args.videos} videos x {args.frames} frames 640x480, 2 faces each, {args.cpus} CPUs, ranges of "
            f"{args.chunk_frames} frames (load average now {os.getloadavg()[0]:.1f}):\n"
            f"  single process: {single_fps:6.1f} frames/s ({single_s:.1f} s, {single_faces} faces)\n"
            f"  ferops batch:   {batch_fps:6.1f} frames/s ({result.seconds:.1f} s, {result.faces} faces; "
            f"Ray start-up {ray_s:.1f} s apart)\n"
            f"    of which start-up (actors, model loads, first range) {result.warmup_seconds:.1f} s; after it "
            f"{steady:.1f} frames/s = {steady / single_fps:.2f}x the single process\n"
            f"  ratio {ratio:.2f}x end to end  (target >= 1.5x: {'PASS' if ratio >= 1.5 else 'FAIL'})"
        )
    write_results("batch_throughput", out)


if __name__ == "__main__":
    main()
