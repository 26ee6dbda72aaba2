"""Live pipeline speed: `ferops webcam --headless` vs the seed article's loop, same videos, one run.

    .venv/bin/python benchmarks/live_fps.py [--model-uri models:/fer@production] [--frames 300]

Videos: 640x480, real FER-2013 Training faces upscaled onto a plain background, one face and three.
ferops: exactly the webcam's default path (`apps.live.run` with `create(DEFAULT_DETECTOR, "video")`:
decode, YuNet's video finder with its helper process, one batched model call for all faces, tracking,
smoothing, overlay, the JSON-lines log). Article: Haar on every full frame, a `model.predict` per
face, overlay. Targets: >= 60 FPS with one face and >= 30 with three (people, not tracks), and >= 5x
the article's loop. The first frames (the whole search, the helper starting) are timed too.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from common import REPO, require_real_csv
from results import Printed, write_results

sys.path.insert(0, str(REPO / "tests"))


def make_video(path: Path, faces: list[np.ndarray], frames: int) -> Path:
    spots = [(40, 40), (360, 40), (40, 260), (360, 260)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
    for k in range(frames):
        frame = np.full((480, 640, 3), 190, np.uint8)
        for face, (x, y) in zip(faces, spots):
            dx = int(10 * np.sin(k / 10))  # faces drift a little, as people do
            frame[y : y + 180, x + dx + 20 : x + dx + 200] = cv2.resize(face, (180, 180))[..., None]
        writer.write(frame)
    writer.release()
    return path


def ferops_fps(video: Path, classifier) -> tuple[float, int, int]:
    import io
    import json

    from ferops.apps import live
    from ferops.recording import videosource
    from ferops.runtime.faces import DEFAULT_DETECTOR, create

    source = videosource.open_source(str(video))
    log = io.StringIO()
    start = time.perf_counter()
    frames = live.run(source, create(DEFAULT_DETECTOR, "video"), classifier, live.Options(), log=log)
    fps = frames / (time.perf_counter() - start)
    found = sum(len(json.loads(line)["faces"]) for line in log.getvalue().splitlines())
    return fps, frames, found


def article_cascade():
    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def both_detect(faces: np.ndarray, n: int) -> list[np.ndarray]:
    """Faces that both loops' detectors find, so both loops classify the same number of faces."""
    from ferops.runtime.faces import DEFAULT_DETECTOR, create

    ours, theirs, picked = create(DEFAULT_DETECTOR, "photo"), article_cascade(), []
    for face in faces:
        frame = cv2.imread(str(make_video_frame(face)))
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if len(ours.detect(frame)) == 1 and len(theirs.detectMultiScale(gray, 1.3, 5)) == 1:
            picked.append(face)
        if len(picked) == n:
            return picked
    raise SystemExit(f"only {len(picked)} faces were found by both detectors")


def make_video_frame(face: np.ndarray) -> Path:
    path = Path(tempfile.gettempdir()) / "ferops_bench_probe.png"
    frame = np.full((480, 640, 3), 190, np.uint8)
    frame[40:220, 60:240] = cv2.resize(face, (180, 180))[..., None]
    cv2.imwrite(str(path), frame)
    return path


def article_fps(video: Path, model) -> tuple[float, int, int]:
    from ferops.core.fer2013 import EMOTIONS

    cascade = article_cascade()
    cap = cv2.VideoCapture(str(video))
    frames, found, start = 0, 0, time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        faces = cascade.detectMultiScale(gray, 1.3, 5)
        found += len(faces)
        cv2.rectangle(frame, (0, 0), (640, 30), (0, 0, 0), -1)
        for x, y, w, h in faces:
            roi = gray[max(0, y - 5) : y + h + 5, max(0, x - 5) : x + w + 5]
            roi = cv2.resize(roi, (48, 48)).astype("float32")[None, :, :, None]
            probs = model.predict(roi, verbose=0)[0]
            label = EMOTIONS[int(np.argmax(probs))]
            cv2.rectangle(frame, (x, y), (x + w, y + h), (0, 255, 0), 2)
            cv2.putText(frame, f"{label} {probs.max():.2f}", (x, y - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 255, 0), 2)
        frames += 1
    return frames / (time.perf_counter() - start), frames, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-uri", default=None, help="default: models:/fer@production")
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    require_real_csv()
    from support.data import real_faces
    from ferops.registry.loading import ModelNotFound, load_classifier
    from ferops.registry.names import PRODUCTION_URI
    from ferops.runtime.classifier import EmotionClassifier
    from ferops.training.architectures import build

    out = Printed()
    try:
        classifier = load_classifier(args.model_uri or PRODUCTION_URI)  # the apps' loader: TTA + temperature
        out(f"model: {args.model_uri or PRODUCTION_URI}")
    except ModelNotFound as e:
        if args.model_uri:
            sys.exit(f"error: {e}")
        classifier = EmotionClassifier(build("fer_cnn"))  # same architecture and cost; weights do not change timing
        out(f"model: untrained fer_cnn ({PRODUCTION_URI} not registered yet)")
    model = classifier.model
    faces = both_detect(real_faces(300, "Training")[0], 3)  # videos: Training faces only
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 3):
            video = make_video(Path(tmp) / f"faces{n}.mp4", list(faces[:n]), args.frames)
            ours, frames, ours_found = ferops_fps(video, classifier)
            theirs, _, theirs_found = article_fps(video, model)
            ratio = ours / theirs
            target = 60 if n == 1 else 30
            verdict = f">= {target} FPS {'PASS' if ours >= target else 'FAIL'}, "
            verdict += f">= 5x {'PASS' if ratio >= 5 else 'FAIL'}"
            out(
                f"{n} face(s), {frames} frames 640x480: ferops {ours:6.1f} FPS | "
                f"article loop {theirs:6.1f} FPS | ratio {ratio:5.1f}x  (targets: {verdict})\n"
                f"    faces found per frame: ferops {ours_found / frames:.2f}, article {theirs_found / frames:.2f}"
            )
    write_results("live_fps", out)


if __name__ == "__main__":
    main()
