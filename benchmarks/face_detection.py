"""Face detectors side by side on one synthetic video, plus the real photos that installed packages ship.

    .venv/bin/python benchmarks/face_detection.py [--model models/model.keras] [--clips 12] [--frames 25]
        [--framing] [--rest]

The video is built here from FER-2013 **Training and PublicTest** faces only (PrivateTest stays the
untouched test set): 1-4 faces a frame, 48-260 px, tilted up to +-15 degrees, lit and blurred
differently, drifting (with motion blur) over textured 640x480 backgrounds, feathered in so no square
edge gives them away. Ground truth is each pasted face's square. Per detector, measured on EVERY frame:
recall (IoU > 0.3), false boxes a frame, label accuracy on the faces found (with --model), ms a frame;
then recall and false boxes again counting a box that lies >= 80% inside a pasted square as that face
(in some FER-2013 images the face fills only the middle of the image: a box on the face itself has
IoU < 0.3 with the whole image's square and would count as a miss plus a false box).
Targets: recall >= 0.95 with <= 0.05 false boxes a frame (judged on IoU > 0.3).

--framing: which crop of YuNet's detections the classifier scores best on (needs --model).
The recall table runs the video finder with its scan parts in this process; the webcam runs them in a
helper process, which finds the same faces frame for frame (tests/test_faces.py), so recall is the
webcam's. The webcam's end-to-end speed is benchmarks/live_fps.py's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from common import REPO, require_real_csv
from results import Printed, write_results

sys.path.insert(0, str(REPO / "src"))

W, H = 640, 480
OUT = Printed()  # every line the run prints, for its results file


def background(rng: np.random.Generator) -> np.ndarray:
    """Textured clutter: blurred noise at several scales, a gradient, some shapes, in colour."""
    img = np.zeros((H, W, 3), np.float32)
    for scale in (4, 16, 64):
        noise = rng.normal(0, 1, (H // scale + 2, W // scale + 2, 3)).astype(np.float32)
        img += cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC) * rng.uniform(8, 30)
    img += np.linspace(0, rng.uniform(-60, 60), W, dtype=np.float32)[None, :, None]
    img += rng.uniform(60, 190, 3).astype(np.float32)
    for _ in range(rng.integers(3, 9)):
        colour = rng.uniform(0, 255, 3).tolist()
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 200)), y + int(rng.integers(20, 200))), colour, -1)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, W)), int(rng.integers(0, H))), colour, int(rng.integers(2, 9)))
    return np.clip(img, 0, 255).astype(np.uint8)


def paste(frame: np.ndarray, face: np.ndarray, cx: float, cy: float, size: int, angle: float, gain: float, bias: float):
    """A 48x48 face scaled to size x size, rotated, lit, feathered onto frame at centre (cx, cy)."""
    pad = int(size * 0.25)
    big = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    big = np.clip(big * gain + bias, 0, 255)
    canvas = np.zeros((size + 2 * pad, size + 2 * pad), np.float32)
    mask = np.zeros_like(canvas)
    canvas[pad : pad + size, pad : pad + size] = big
    feather = max(2, size // 10)
    inner = np.zeros((size, size), np.float32)
    inner[feather:-feather, feather:-feather] = 1
    mask[pad : pad + size, pad : pad + size] = cv2.blur(inner, (2 * feather + 1, 2 * feather + 1))
    centre = (canvas.shape[1] / 2, canvas.shape[0] / 2)
    rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
    canvas = cv2.warpAffine(canvas, rot, canvas.shape[::-1], flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(mask, rot, mask.shape[::-1], flags=cv2.INTER_LINEAR)
    x0, y0 = int(round(cx - canvas.shape[1] / 2)), int(round(cy - canvas.shape[0] / 2))
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(W, x0 + canvas.shape[1]), min(H, y0 + canvas.shape[0])
    c = canvas[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0, None]
    m = mask[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0, None]
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (region * (1 - m) + c * m).astype(np.uint8)


def make_clips(faces: np.ndarray, labels: np.ndarray, clips: int, frames: int, seed: int = 0):
    """Yields (frame, [(box, label), ...]) for clips x frames frames."""
    rng = np.random.default_rng(seed)
    for _ in range(clips):
        bg = background(rng)
        people = []
        for _ in range(int(rng.integers(1, 5))):
            for _attempt in range(50):
                size = int(np.exp(rng.uniform(np.log(48), np.log(260))))
                cx, cy = rng.uniform(size / 2 + 5, W - size / 2 - 5), rng.uniform(size / 2 + 5, H - size / 2 - 5)
                clear = all(
                    abs(cx - p["cx"]) > (size + p["size"]) * 0.65 or abs(cy - p["cy"]) > (size + p["size"]) * 0.65
                    for p in people
                )
                if size < min(W, H) - 20 and clear:
                    k = int(rng.integers(len(faces)))
                    people.append(
                        dict(
                            face=faces[k],
                            label=int(labels[k]),
                            size=size,
                            cx=cx,
                            cy=cy,
                            vx=rng.uniform(-2, 2),
                            vy=rng.uniform(-1.5, 1.5),
                            angle=rng.uniform(-15, 15),
                            gain=rng.uniform(0.6, 1.3),
                            bias=rng.uniform(-40, 40),
                            blur=rng.uniform(0, 1.5),
                        )
                    )
                    break
        for t in range(frames):
            frame = bg.copy()
            truth = []
            for p in people:
                cx, cy = p["cx"] + p["vx"] * t, p["cy"] + p["vy"] * t
                paste(frame, p["face"], cx, cy, p["size"], p["angle"] + 2 * np.sin(t / 7), p["gain"], p["bias"])
                s = p["size"]
                truth.append(((int(cx - s / 2), int(cy - s / 2), s, s), p["label"]))
            if max(abs(p["vx"]) for p in people) > 1.2:  # motion blur along the drift
                k = np.zeros((5, 5), np.float32)
                k[2, :] = 1 / 5
                frame = cv2.filter2D(frame, -1, k)
            sigma = max(p["blur"] for p in people)
            if sigma > 0.3:
                frame = cv2.GaussianBlur(frame, (0, 0), sigma)
            yield frame, truth


def match(truth_boxes, found_boxes, thresh: float = 0.3, within: bool = False) -> list[tuple[int, int]]:
    """Pairs (truth, found), best overlap first. within=True also pairs a found box lying >= 80% inside
    a pasted square (scored as IoU 0.31): the truth is the whole 48x48 FER-2013 image pasted, and in
    some of those images the face fills only the middle, so a box on the face itself has IoU < 0.3."""
    from ferops.runtime.faces import covered, iou

    def score(t, f) -> float:
        overlap = iou(t, f)
        return max(overlap, 0.31) if within and covered(f, t) >= 0.8 else overlap

    pairs = sorted(
        ((score(t, f), i, j) for i, t in enumerate(truth_boxes) for j, f in enumerate(found_boxes)), reverse=True
    )
    used_t, used_f, out = set(), set(), []
    for score, i, j in pairs:
        if score > thresh and i not in used_t and j not in used_f:
            used_t.add(i), used_f.add(j), out.append((i, j))
    return out


def detectors(only_fast: bool = False):
    from ferops.runtime.faces import HaarDetector, YuNetDetector, live_detector
    from ferops.runtime.video_faces import PhotoFaceFinder, VideoFaceFinder

    out = {
        "yunet video (default)": VideoFaceFinder,
        "haar live (old default)": live_detector,
        "haar photo": HaarDetector,
        "yunet photo (predict)": PhotoFaceFinder,
    }
    if not only_fast:
        out["yunet one pass (REST)"] = YuNetDetector
    return out


def recall_table(video, classifier) -> None:
    from ferops.runtime.pipeline import find_faces

    OUT(
        f"\n{'detector':28} {'recall':>7} {'false/frame':>11} {'label acc':>9} {'ms/frame':>9}   "
        f"{'| box on the face: recall':>25} {'false/frame':>11}   ({len(video)} frames, "
        f"{sum(len(t) for _, t in video)} faces)"
    )
    for name, make in detectors().items():
        det = make()
        found_n = truth_n = false_n = correct = found_in = false_in = 0
        elapsed = 0.0
        for frame, truth in video:
            start = time.perf_counter()
            faces, inputs = find_faces(frame, det)
            elapsed += time.perf_counter() - start
            pairs = match([b for b, _ in truth], [f.box for f in faces])
            truth_n += len(truth)
            found_n += len(pairs)
            false_n += len(faces) - len(pairs)
            pairs_in = match([b for b, _ in truth], [f.box for f in faces], within=True)
            found_in += len(pairs_in)
            false_in += len(faces) - len(pairs_in)
            if classifier is not None and pairs:
                probs = classifier.probs(inputs[[j for _, j in pairs]])
                correct += int(sum(p.argmax() == truth[i][1] for (i, _), p in zip(pairs, probs)))
        acc = f"{correct / max(found_n, 1):9.3f}" if classifier is not None else f"{'-':>9}"
        recall, false = found_n / truth_n, false_n / len(video)
        verdict = "PASS" if recall >= 0.95 and false <= 0.05 else "fail"
        OUT(
            f"{name:28} {recall:7.3f} {false:11.3f} {acc} {1000 * elapsed / len(video):9.1f}   "
            f"{found_in / truth_n:25.3f} {false_in / len(video):11.3f}   {verdict} (on IoU > 0.3)"
        )


def package_photos():
    """Real photos that installed packages ship: matplotlib's Grace Hopper (1 face), scikit-learn's two (0)."""
    import matplotlib

    photos = [(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg", 1)]
    try:
        import sklearn

        folder = Path(sklearn.__file__).parent / "datasets" / "images"
        photos += [(folder / "china.jpg", 0), (folder / "flower.jpg", 0)]
    except ImportError:
        pass
    return [(p, n) for p, n in photos if p.is_file()]


def photos_table() -> None:
    from ferops.runtime.faces import create

    photos = package_photos()
    OUT("\nreal photos shipped by packages: faces found (expected)")
    for name in ("yunet", "haar"):
        det = create(name, "request")
        cells = [f"{p.name} {len(det.detect(cv2.imread(str(p))))} ({n})" for p, n in photos]
        OUT(f"  {name:6} " + ", ".join(cells))


def framing_table(video, classifier) -> None:
    """Label accuracy on YuNet's faces cropped in different framings (same faces for every framing)."""
    from ferops.runtime.faces import YuNetDetector, clip_box, fer_box
    from ferops.runtime.imaging import face_to_input

    det = YuNetDetector()
    framings = {"YuNet's own box": lambda r: r[1:5]}
    for side in (2.1, 2.3, 2.5, 2.7, 2.9):
        for up in (0.0, 0.05, 0.1):
            framings[f"landmarks side {side} up {up}"] = lambda r, s=side, u=up: fer_box(r[5:15], s, u)
    crops = {k: [] for k in framings}
    crops["truth box (oracle)"] = []
    labels = []
    for frame, truth in video:
        rows = det.raw(frame)
        pairs = match([b for b, _ in truth], [clip_box(fer_box(r[5:15]), W, H) for r in rows])
        for i, j in pairs:
            labels.append(truth[i][1])
            for name, frame_it in framings.items():
                x, y, w, h = clip_box(frame_it(rows[j]), W, H)
                crops[name].append(face_to_input(frame[y : y + h, x : x + w]))
            x, y, w, h = truth[i][0]
            crops["truth box (oracle)"].append(face_to_input(frame[max(0, y) : y + h, max(0, x) : x + w]))
    labels = np.array(labels)
    OUT(f"\nframing of YuNet's faces: label accuracy on the same {len(labels)} faces")
    for name, xs in crops.items():
        acc = float((classifier.probs(np.stack(xs)).argmax(axis=1) == labels).mean())
        OUT(f"  {name:32} {acc:.3f}")


def rest_table(classifier, repeats: int = 40) -> None:
    """What the pyfunc does for one detect_faces record (decode PNG, detect, crop, classify), per detector,
    in process: the HTTP server adds the same fixed cost to both, so this ratio is the stricter one."""
    from ferops.runtime.faces import create
    from ferops.runtime.imaging import decode_image
    from ferops.runtime.pipeline import find_faces

    photo, _ = next(make_clips(FACES[0], FACES[1], 1, 1, seed=3))
    png = cv2.imencode(".png", photo)[1].tobytes()
    times = {}
    for name in ("yunet", "haar"):
        det = create(name, "request")
        for _ in range(3):
            find_faces(decode_image(png), det)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            faces, inputs = find_faces(decode_image(png), det)
            classifier.probs(inputs)
            samples.append(time.perf_counter() - start)
        times[name] = float(np.median(samples)) * 1000
    ratio = times["yunet"] / times["haar"]
    OUT(
        f"\nREST detect_faces work for one 640x480 photo (median of {repeats}): yunet {times['yunet']:.1f} ms | "
        f"haar {times['haar']:.1f} ms | ratio {ratio:.2f} (target <= 2: {'PASS' if ratio <= 2 else 'fail'})"
    )


FACES: list = []  # the benchmark's faces and labels, once loaded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(REPO / "models" / "model.keras"))
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0, help="another seed: another sample of faces, sizes and scenes")
    parser.add_argument("--framing", action="store_true")
    parser.add_argument("--rest", action="store_true")
    args = parser.parse_args()
    require_real_csv()
    from common import REAL_CSV
    from ferops.data.ingest import ingest

    table, _ = ingest(REAL_CSV)
    keep = np.isin(table.usage, ["Training", "PublicTest"])  # never PrivateTest
    # FER-2013 holds some placeholders ("image removed" icons, blank frames) that are not faces.
    pixels = table.pixels.reshape(len(table.pixels), -1)
    keep &= (pixels.std(axis=1) >= 20) & (pixels.mean(axis=1) <= 200)
    faces, labels = table.pixels[keep], table.labels[keep]
    classifier = None
    if Path(args.model).is_file():
        from ferops.runtime.classifier import EmotionClassifier

        classifier = EmotionClassifier.from_keras_file(args.model)
        OUT(f"model: {args.model}")
    else:
        OUT(f"model: none at {args.model} (label accuracy and --framing need one)")
    OUT(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    FACES[:] = [faces, labels]
    video = list(make_clips(faces, labels, args.clips, args.frames, args.seed))
    recall_table(video, classifier)
    photos_table()
    if args.framing and classifier is not None:
        framing_table(video, classifier)
    if args.rest and classifier is None:
        from ferops.runtime.classifier import EmotionClassifier
        from ferops.training.architectures import build

        classifier = EmotionClassifier(build("fer_cnn"))  # same cost; weights do not change the timing
    if args.rest:
        rest_table(classifier)
    write_results("face_detection", OUT)


if __name__ == "__main__":
    main()
