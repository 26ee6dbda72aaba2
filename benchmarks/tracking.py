"""People followed through whole recordings: the standard multi-object-tracking figures per recording.

    .venv/bin/python benchmarks/tracking.py [--seconds 60] [--fps 25] [--agreement --model models/model.keras]

Recordings of 1-4 people seated side by side are built here from FER-2013 **Training and PublicTest**
faces only (PrivateTest stays the untouched test set), 640x480: each face drifts slowly, changes
expression every 3-8 s (another FER-2013 face in the same seat, so its appearance changes completely;
only faces that YuNet finds when shown alone are used, so that this measures following people, not
finding hard faces: benchmarks/face_detection.py measures that),
looks away or down for 1-4 s (the face is not shown), and is hidden while someone walks past in front
(a dark figure crossing the frame); in some recordings a person comes in and sits down, or gets up and
leaves. Ground truth: each shown face's square and its person; a face that is not shown, more than half
hidden, or more than a third out of the frame is not expected.

Each recording is written as an MP4 and run through `ferops webcam --headless`'s path (`live.run`, the
video finder, the tracker, a model of the served architecture: tracking does not depend on its
weights); its log's ids are scored against the truth, a face matching when its box overlaps the
square (IoU > 0.3, or lying >= 80% inside it, as in benchmarks/face_detection.py):
- recall: faces expected that were found; precision: faces found that were expected;
- IDF1 (Ristani et al. 2016): the F1 of faces given their person's id, ids paired with people one to
  one so as to agree on the most faces;
- identity switches (CLEAR MOT): a person's face found under another id than the last time she was found;
- fragments per person-minute: the times a person's face went on under a new id (every id she was given
  after her first), over the minutes she was expected; 0 is one id per person for the whole recording.
Targets: IDF1 >= 0.90, <= 1 fragment per person-minute, recall >= 0.90. Beside each recording, the
same faces re-tracked offline the way ferops did before people were re-identified (overlap only, a
track dropped after 5 frames unseen), so the tracker's share of the result shows.

--agreement (needs --model): `ferops webcam --headless` and `ferops batch` with their defaults on two of
the recordings, in process (batch's ranges scored by `scale.scoring.score_range` as its Ray actors do,
then `scale.tables.track`): the share of faces that both report, on the same frame with the same label
(and with the same person, ids paired as above; and with the very same box). Target >= 0.98 (labels).

Results go to benchmarks/results/tracking_<machine>.txt (--agreement: tracking_agreement_<machine>.txt)
with the commit and date.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from common import REPO, require_real_csv
from face_detection import H, W, background, match, paste
from results import write_results

sys.path.insert(0, str(REPO / "src"))


@dataclass
class Person:
    seat: tuple[float, float]
    size: int
    faces: list[int]  # FER-2013 face indices, one per expression
    changes: list[float]  # when each next face starts
    away: list[tuple[float, float]]  # looks away / down: (start, end)
    enter: float | None = None  # sits down at this time (slides in from the side before)
    leave: float | None = None  # gets up at this time (slides out after)
    phase: float = 0.0
    side: int = 1  # the side of the frame she comes from / goes to


@dataclass
class Recording:
    name: str
    seconds: float
    fps: int
    people: list[Person]
    passers: list[tuple[float, float, int]] = field(default_factory=list)  # (start, seconds to cross, direction)
    seed: int = 0


SLIDE_S = 2.0  # coming in or getting up takes this long


def _events(rng, seconds: float, every: tuple[float, float]) -> list[float]:
    out, t = [], rng.uniform(*every)
    while t < seconds:
        out.append(t)
        t += rng.uniform(*every)
    return out


def findable(faces: np.ndarray):
    """(k, size) -> whether YuNet finds face k pasted alone at that size on a grey background."""
    from ferops.runtime.faces import YuNetDetector

    detector = YuNetDetector()

    def check(k: int, size: int) -> bool:
        frame = np.full((2 * size, 2 * size, 3), 128, np.uint8)
        paste(frame, faces[k], size, size, size, 0, 1.0, 0)
        return bool(detector.detect(frame))

    return check


def _pick(rng, n: int, n_faces: int, ok, size: int) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        k = int(rng.integers(0, n_faces))
        if ok(k, size):
            out.append(k)
    return out


def recordings(faces: np.ndarray, seconds: float, fps: int, seed: int = 0) -> list[Recording]:
    """1, 2, 3 and 4 people; the three-person recording has someone coming in, the four-person one someone leaving."""
    rng = np.random.default_rng(seed)
    ok = findable(faces)
    out = []
    for n, name in ((1, "one person"), (2, "two side by side"), (3, "three, one comes in"), (4, "four, one leaves")):
        size = {1: 150, 2: 130, 3: 115, 4: 100}[n]
        people = []
        for k in range(n):
            cx = W * (k + 0.5) / n + rng.uniform(-10, 10)
            cy = H * 0.45 + rng.uniform(-30, 30)
            changes = _events(rng, seconds, (3.0, 8.0))
            away_starts = _events(rng, seconds, (12.0, 25.0))
            away = [(s, s + rng.uniform(1.0, 4.0)) for s in away_starts]
            px = int(size * rng.uniform(0.9, 1.1))
            people.append(
                Person((cx, cy), px, _pick(rng, len(changes) + 1, len(faces), ok, px), changes, away,
                       phase=rng.uniform(0, 2 * np.pi), side=-1 if cx < W / 2 else 1)
            )
        if n == 3:
            people[-1].enter = seconds * 0.3
        if n == 4:
            people[0].leave = seconds * 0.7
        walks = _events(rng, seconds - 4, (15.0, 30.0))
        passers = [(s, rng.uniform(2.0, 3.5), int(rng.choice([-1, 1]))) for s in walks]
        out.append(Recording(name, seconds, fps, people, passers, seed))
    return out


def _position(p: Person, t: float) -> tuple[float, float, float]:
    """Centre and how far off its seat (0 seated .. 1 fully out of the frame) a person is at t."""
    cx = p.seat[0] + 18 * np.sin(2 * np.pi * t / 23 + p.phase)
    cy = p.seat[1] + 8 * np.sin(2 * np.pi * t / 11 + p.phase)
    off = 0.0
    if p.enter is not None and t < p.enter:
        off = min(1.0, (p.enter - t) / SLIDE_S)
    if p.leave is not None and t > p.leave:
        off = min(1.0, (t - p.leave) / SLIDE_S)
    distance = (W - p.seat[0] + p.size) if p.side > 0 else (p.seat[0] + p.size)
    return cx + p.side * off * distance, cy, off


def frames(rec: Recording, faces: np.ndarray):
    """Yields (frame, [(person, box), ...] expected) for every frame of the recording."""
    rng = np.random.default_rng(rec.seed + 100 + len(rec.people))
    bg = background(rng)
    for f in range(int(rec.seconds * rec.fps)):
        t = f / rec.fps
        frame = bg.copy()
        boxes = {}
        for k, p in enumerate(rec.people):
            cx, cy, off = _position(p, t)
            if off >= 1.0 or not -0.7 * p.size < cx < W + 0.7 * p.size:
                continue
            s = p.size
            box = (int(cx - s / 2), int(cy - s / 2), s, s)
            inside = (min(W, box[0] + s) - max(0, box[0])) / s
            face = faces[p.faces[int(np.searchsorted(p.changes, t, side="right"))]]
            if any(a <= t < b for a, b in p.away):
                # Turned away or looking down: the head is there, the face is not.
                blob = cv2.GaussianBlur(cv2.resize(face, (12, 12)), (0, 0), 3)
                paste(frame, cv2.resize(blob, (48, 48)), cx, cy, s, 0, 0.6, 10)
                continue
            paste(frame, face, cx, cy, s, 3 * np.sin(t / 2 + p.phase), 1.0, 0)
            if inside >= 2 / 3:
                boxes[k] = box
        for start, cross, direction in rec.passers:
            if start <= t < start + cross:
                # Someone walks past close to the camera: a dark figure 180 px wide crossing the frame.
                u = (t - start) / cross
                x = (-200 + u * (W + 400)) if direction > 0 else (W + 200 - u * (W + 400))
                x0, x1 = int(max(0, x - 90)), int(min(W, x + 90))
                if x1 > x0:
                    frame[:, x0:x1] = (frame[:, x0:x1] * 0.15 + 25).astype(np.uint8)
                for k in list(boxes):
                    b = boxes[k]
                    hidden = max(0, min(x1, b[0] + b[2]) - max(x0, b[0])) / b[2]
                    if hidden > 0.5:
                        del boxes[k]
        noise = rng.normal(0, 3, frame.shape).astype(np.int16)
        yield np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8), list(boxes.items())


def write_video(rec: Recording, faces: np.ndarray, path: Path) -> list[list[tuple[int, tuple]]]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), rec.fps, (W, H))
    truth = []
    for frame, expected in frames(rec, faces):
        writer.write(frame)
        truth.append(expected)
    writer.release()
    return truth


def score(truth: list[list[tuple[int, tuple]]], found: list[list[tuple[int, tuple]]], fps: int) -> dict:
    """truth / found: per frame, [(person or id, box)]. The MOT figures described at the top."""
    from scipy.optimize import linear_sum_assignment

    pairs_per_frame = []
    n_truth = n_found = 0
    for expected, got in zip(truth, found):
        pairs = match([b for _, b in expected], [b for _, b in got], within=True)
        pairs_per_frame.append([(expected[i][0], got[j][0]) for i, j in pairs])
        n_truth += len(expected)
        n_found += len(got)
    matched = sum(len(p) for p in pairs_per_frame)
    people = sorted({p for frame in truth for p, _ in frame})
    ids = sorted({i for frame in found for i, _ in frame})
    together = np.zeros((len(people), len(ids)))
    last: dict[int, int] = {}
    switches = 0
    given: dict[int, set] = {p: set() for p in people}
    for frame in pairs_per_frame:
        for person, track in frame:
            together[people.index(person), ids.index(track)] += 1
            if person in last and last[person] != track:
                switches += 1
            last[person] = track
            given[person].add(track)
    rows, cols = linear_sum_assignment(-together) if together.size else ([], [])
    idtp = together[rows, cols].sum() if len(rows) else 0.0
    minutes = sum(1 for frame in truth for _ in frame) / fps / 60
    return {
        "people": len(people),
        "ids": len(ids),
        "recall": matched / max(n_truth, 1),
        "precision": matched / max(n_found, 1),
        "idf1": 2 * idtp / max(n_truth + n_found, 1),
        "switches": switches,
        "fragments_per_person_minute": sum(max(len(v) - 1, 0) for v in given.values()) / max(minutes, 1e-9),
        "person_minutes": minutes,
    }


def overlap_only(log: list[dict], fps: int) -> list[list[tuple[int, tuple]]]:
    """The log's faces re-tracked as before re-identification: IoU >= 0.3 with the last box, dropped
    after 5 frames unseen (PersonTracker without its second pass and with a 5-frame memory)."""
    from ferops.recording.tracker import PersonTracker

    tracker = PersonTracker(memory_s=5 / fps, reach=0.0)
    out = []
    for rec in log:
        boxes = [tuple(f["box"]) for f in rec["faces"]]
        tracks = tracker.update(boxes, np.zeros((len(boxes), 7)), rec["t"])
        out.append([(t.id, b) for t, b in zip(tracks, boxes)])
    return out


def run_webcam(path: Path, classifier, background: bool = False) -> list[dict]:
    """`ferops webcam --headless --source PATH --log ...` in process: the log's records."""
    from ferops.apps import live
    from ferops.recording import videosource
    from ferops.runtime.faces import create

    log = io.StringIO()
    live.run(videosource.open_source(str(path)), create("yunet", "video", background=background), classifier,
             live.Options(), log=log)
    return [json.loads(line) for line in log.getvalue().splitlines()]


def run_batch(path: Path, classifier) -> list[list[tuple[int, tuple, str]]]:
    """`ferops batch PATH` with its defaults, in process: per frame, [(track, box, label)]."""
    from ferops.scale import batch, tables
    from ferops.scale.scoring import score_range
    from ferops.runtime.faces import create
    from ferops.scale.videos import frame_ranges, probe

    video = probe(path)
    ranges = []
    for start, stop in frame_ranges(video, batch.CHUNK_FRAMES):
        r = score_range(str(path), start, stop, 1, create("yunet", "video", background=False), classifier)
        ranges.append({"start": start, **r})
    table, _ = tables.track(video, ranges, 1)
    out: list[list] = [[] for _ in range(video.frames)]
    for f, track, x, y, w, h, label in zip(
        *(table.column(c).to_pylist() for c in ("frame", "track", "box_x", "box_y", "box_w", "box_h", "label"))
    ):
        out[f].append((track, (x, y, w, h), label))
    return out


def agreement(webcam: list[dict], batch: list[list]) -> tuple[float, float, float]:
    """Share of all faces reported by either that the other reports on the same frame with the same label;
    with the same label and person (ids paired one to one, as IDF1 pairs them); and with the same box."""
    from scipy.optimize import linear_sum_assignment

    from ferops.runtime.faces import iou

    same_label, same_box, both, total, pairs = 0, 0, [], 0, {}
    for rec, other in zip(webcam, batch):
        mine = rec["faces"]
        total += max(len(mine), len(other))
        same_box += len({tuple(a["box"]) for a in mine} & {tuple(b[1]) for b in other})
        for a in mine:
            best = max(other, key=lambda b: iou(tuple(a["box"]), b[1]), default=None)
            if best is not None and iou(tuple(a["box"]), best[1]) >= 0.5:
                if a["label"] == best[2]:
                    same_label += 1
                    both.append((a["id"], best[0]))
                pairs[(a["id"], best[0])] = pairs.get((a["id"], best[0]), 0) + 1
    mine_ids = sorted({a for a, _ in pairs})
    their_ids = sorted({b for _, b in pairs})
    m = np.zeros((len(mine_ids), len(their_ids)))
    for (a, b), n in pairs.items():
        m[mine_ids.index(a), their_ids.index(b)] = n
    rows, cols = linear_sum_assignment(-m) if m.size else ([], [])
    paired = {mine_ids[r]: their_ids[c] for r, c in zip(rows, cols)}
    same_person = sum(1 for a, b in both if paired.get(a) == b)
    return same_label / max(total, 1), same_person / max(total, 1), same_box / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--agreement", action="store_true", help="webcam against batch on two recordings")
    parser.add_argument("--model", default=str(REPO / "models" / "model.keras"),
                        help="for --agreement: a .keras file with calibration.json beside it, or a models:/ URI")
    args = parser.parse_args()
    csv_path = require_real_csv()
    from ferops.data.ingest import ingest
    from ferops.runtime.classifier import EmotionClassifier

    table, _ = ingest(csv_path)
    keep = np.isin(table.usage, ["Training", "PublicTest"])  # never PrivateTest
    pixels = table.pixels.reshape(len(table.pixels), -1)
    keep &= (pixels.std(axis=1) >= 20) & (pixels.mean(axis=1) <= 200)  # no placeholders
    faces = table.pixels[keep]
    if args.agreement:
        from ferops.registry.loading import ModelNotFound, load_classifier

        try:
            classifier = load_classifier(args.model)
        except ModelNotFound as e:
            sys.exit(f"error: --agreement needs a trained model: {e}")
    else:
        from ferops.training.architectures import build

        classifier = EmotionClassifier(build("fer_cnn"))  # ids do not depend on the weights
    head = f"{len(faces)} Training/PublicTest faces; {args.seconds:.0f} s recordings at {args.fps} FPS, 640x480, " \
        f"seed {args.seed}"
    recs = recordings(faces, args.seconds, args.fps, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        if args.agreement:
            lines = [head, "", f"webcam --headless against batch, defaults, model {args.model}: faces reported by "
                     "both with the same label (and person; and box); target >= 0.98"]
            print("\n".join(lines))
            for k in (1, 2):
                path = Path(tmp) / f"rec{k}.mp4"
                write_video(recs[k], faces, path)
                webcam = run_webcam(path, classifier, background=True)
                labels, people, boxes = agreement(webcam, run_batch(path, classifier))
                line = f"  {recs[k].name:24} label {labels:.3f}  label and person {people:.3f}  box {boxes:.3f}  " + (
                    "PASS" if labels >= 0.98 else "fail")
                print(line)
                lines.append(line)
            write_results("tracking_agreement", lines)
            return
        lines = [head, "", f"{'recording':24} {'people':>6} {'ids':>4} {'IDF1':>6} {'switches':>8} {'frag/p-min':>10} "
                 f"{'recall':>7} {'precision':>9}  targets IDF1>=0.90, frag<=1, recall>=0.90"]
        print("\n".join(lines))
        for k, rec in enumerate(recs):
            path = Path(tmp) / f"rec{k}.mp4"
            truth = write_video(rec, faces, path)
            start = time.perf_counter()
            log = run_webcam(path, classifier)
            elapsed = time.perf_counter() - start
            found = [[(f["id"], tuple(f["box"])) for f in r["faces"]] for r in log]
            s = score(truth, found, rec.fps)
            before = score(truth, overlap_only(log, rec.fps), rec.fps)
            ok = s["idf1"] >= 0.90 and s["fragments_per_person_minute"] <= 1.0 and s["recall"] >= 0.90
            line = (f"{rec.name:24} {s['people']:6d} {s['ids']:4d} {s['idf1']:6.3f} {s['switches']:8d} "
                    f"{s['fragments_per_person_minute']:10.2f} {s['recall']:7.3f} {s['precision']:9.3f}  "
                    f"{'PASS' if ok else 'fail'} ({len(log) / elapsed:.0f} FPS here)")
            line += (f"\n{'  overlap only, 5 frames':24} {before['people']:6d} {before['ids']:4d} "
                     f"{before['idf1']:6.3f} {before['switches']:8d} {before['fragments_per_person_minute']:10.2f}")
            print(line)
            lines.append(line)
    write_results("tracking", lines)


if __name__ == "__main__":
    main()
