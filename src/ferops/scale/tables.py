"""Scored frame ranges of one video -> its rows of frames.parquet, sessions.parquet and videos.parquet.

Tracking runs here, sequentially over the whole video, with the same PersonTracker and settings as
`ferops webcam`: a face keeps its id across the ranges the workers scored separately, and the
smoothed probabilities equal the webcam's. It costs microseconds a face; decoding and the model
are what the workers parallelise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ferops.recording.tracker import MEMORY_S, PersonTracker, tracked_face
from ferops.runtime.video import SMOOTH_ALPHA
from ferops.recording.people import unnamed
from ferops.recording.summary import UNCERTAIN, observations, summarise_people
from ferops.core.fer2013 import EMOTIONS, VALENCES
from ferops.core.io import atomic_path
from ferops.scale.videos import Failure, Video


FRAMES_SCHEMA = pa.schema(
    [
        ("video", pa.string()),
        ("video_sha256", pa.string()),
        ("frame", pa.int64()),
        ("t", pa.float64()),  # seconds into the recording: frame / fps
        ("track", pa.int64()),  # the person's id within this video
        ("box_x", pa.int32()),
        ("box_y", pa.int32()),
        ("box_w", pa.int32()),
        ("box_h", pa.int32()),
        ("label", pa.string()),  # argmax of the (smoothed) probabilities, as the webcam log's "label"
        ("confidence", pa.float32()),
        *[(f"p_{e}", pa.float32()) for e in EMOTIONS],
        ("valence", pa.string()),  # positive / neutral / negative: the (smoothed) probabilities summed
        ("valence_confidence", pa.float32()),
        *[(f"v_{v}", pa.float32()) for v in VALENCES],
        ("raw_label", pa.string()),  # this frame's own prediction, unsmoothed
        ("raw_confidence", pa.float32()),
        ("detector_confidence", pa.float32()),  # null when the detector gives none (Haar)
    ]
)

SHARE_KEYS = (*EMOTIONS, UNCERTAIN)
SESSIONS_SCHEMA = pa.schema(
    [
        ("video", pa.string()),
        ("video_sha256", pa.string()),
        ("track", pa.int64()),
        ("person", pa.string()),  # "person <track>": batch names nobody; the session app's review does
        ("first_t", pa.float64()),
        ("last_t", pa.float64()),
        ("seconds_seen", pa.float64()),
        ("observations", pa.int64()),
        ("mean_confidence", pa.float64()),
        *[(f"valence_share_{k}", pa.float64()) for k in (*VALENCES, UNCERTAIN)],
        *[(f"share_{k}", pa.float64()) for k in SHARE_KEYS],
        *[(f"longest_{k}_s", pa.float64()) for k in SHARE_KEYS],
        *[(f"longest_{k}_start_t", pa.float64()) for k in SHARE_KEYS],
        ("changes", pa.int64()),
    ]
)

VIDEOS_SCHEMA = pa.schema(
    [
        ("video", pa.string()),
        ("video_sha256", pa.string()),
        ("fps", pa.float64()),
        ("frames", pa.int64()),
        ("duration_s", pa.float64()),
        ("every", pa.int64()),
        ("faces", pa.int64()),
        ("people", pa.int64()),
        ("model_uri", pa.string()),
        ("smooth", pa.bool_()),
    ]
)

ERRORS_SCHEMA = pa.schema([("video", pa.string()), ("video_sha256", pa.string()), ("reason", pa.string())])


def track(
    video: Video, ranges: list[dict], every: int, smooth: bool = True, memory_s: float = MEMORY_S
) -> tuple[pa.Table, int]:
    """Decoded range results (any order) -> (frames table, frames decoded). Every scored frame goes
    through the tracker, faceless ones included, exactly as the webcam loop feeds it."""
    tracker = PersonTracker(alpha=SMOOTH_ALPHA if smooth else 1.0, memory_s=memory_s)
    cols: dict[str, list] = {name: [] for name in FRAMES_SCHEMA.names}
    decoded = 0
    for r in sorted(ranges, key=lambda r: r["start"]):
        decoded = max(decoded, r["start"] + r["frames_read"])
        first = -(-r["start"] // every) * every  # the first frame number of the range that was scored
        bounds = np.searchsorted(r["frame"], np.arange(first, r["start"] + r["frames_read"] + every, every))
        for k, frame_no in enumerate(range(first, r["start"] + r["frames_read"], every)):
            lo, hi = bounds[k], bounds[k + 1]
            boxes = [tuple(int(v) for v in b) for b in r["box"][lo:hi]]
            raw = r["probs"][lo:hi]
            tracks = tracker.update(boxes, raw, frame_no / video.fps)
            for t_, box, p, s in zip(tracks, boxes, raw, r["detector_confidence"][lo:hi]):
                face = tracked_face(t_, box, None if np.isnan(s) else float(s), p)  # as the webcam logs it
                cols["video"].append(video.path)
                cols["video_sha256"].append(video.sha256)
                cols["frame"].append(frame_no)
                cols["t"].append(frame_no / video.fps)
                cols["track"].append(face["id"])
                for name, v in zip(("box_x", "box_y", "box_w", "box_h"), face["box"]):
                    cols[name].append(v)
                cols["label"].append(face["label"])
                cols["confidence"].append(face["confidence"])
                for e in EMOTIONS:
                    cols[f"p_{e}"].append(face["probs"][e])
                cols["valence"].append(face["valence"]["label"])
                cols["valence_confidence"].append(face["valence"]["confidence"])
                for v in VALENCES:
                    cols[f"v_{v}"].append(face["valence"]["probs"][v])
                cols["raw_label"].append(face["raw_label"])
                cols["raw_confidence"].append(face["raw_confidence"])
                cols["detector_confidence"].append(face["det_conf"])
    return pa.table(cols, schema=FRAMES_SCHEMA), decoded


def sessions(video: Video, frames: pa.Table) -> pa.Table:
    """One row per person of the video, from the one shared summary (`ferops.recording.summary`)."""
    records: dict[int, dict] = {}
    columns = ("frame", "t", "track", "label", "confidence", "valence", "valence_confidence")
    for frame_no, t, person, label, conf, valence, sure in zip(*(frames.column(c).to_pylist() for c in columns)):
        records.setdefault(frame_no, {"t": t, "faces": []})["faces"].append(
            {"id": person, "label": label, "confidence": conf, "valence": {"label": valence, "confidence": sure}}
        )
    people = summarise_people(observations(records[f] for f in sorted(records)))
    rows = []
    for person, s in people.items():
        row = {"video": video.path, "video_sha256": video.sha256, "track": person, "person": unnamed(person),
               "changes": len(s["changes"])}
        row.update({f"valence_share_{k}": v for k, v in s["valence_share"].items()})
        row.update({k: s[k] for k in ("first_t", "last_t", "seconds_seen", "observations", "mean_confidence")})
        for k in SHARE_KEYS:
            stretch = s["longest"].get(k)
            row[f"share_{k}"] = s["share"][k]
            row[f"longest_{k}_s"] = stretch["seconds"] if stretch else 0.0
            row[f"longest_{k}_start_t"] = stretch["start_t"] if stretch else None
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=SESSIONS_SCHEMA)


def video_row(video: Video, decoded: int, every: int, frames: pa.Table, people: int, model_uri: str, smooth: bool):
    row = {
        "video": video.path,
        "video_sha256": video.sha256,
        "fps": video.fps,
        "frames": decoded,
        "duration_s": decoded / video.fps,
        "every": every,
        "faces": frames.num_rows,
        "people": people,
        "model_uri": model_uri,
        "smooth": smooth,
    }
    return pa.Table.from_pylist([row], schema=VIDEOS_SCHEMA)


class Output:
    """DIR/{frames,sessions,videos}.parquet are Parquet datasets (folders) with one file per video,
    named by its content hash; any Parquet reader (pandas, pyarrow, DuckDB, Spark, Ray) reads each
    folder as one table. A video's files are written atomically, videos.parquet last: a video is done
    once its videos.parquet file exists, so a run killed half-way keeps every finished video."""

    PARTS = ("frames", "sessions", "videos")

    def __init__(self, root: Path):
        self.root = root

    def part(self, table: str, sha256: str) -> Path:
        return self.root / f"{table}.parquet" / f"{sha256}.parquet"

    def done(self, sha256: str) -> bool:
        return self.part("videos", sha256).is_file()

    def write_video(self, sha256: str, frames: pa.Table, people: pa.Table, video: pa.Table) -> None:
        for name, table in zip(self.PARTS, (frames, people, video)):
            with atomic_path(self.part(name, sha256)) as tmp:
                pq.write_table(table, tmp)

    def write_errors(self, failures: list[Failure]) -> Path:
        """errors.parquet: the videos that failed in this run, with the reason (empty when none did)."""
        path = self.root / "errors.parquet"
        table = pa.Table.from_pylist(
            [{"video": f.video, "video_sha256": f.sha256, "reason": f.reason} for f in failures], schema=ERRORS_SCHEMA
        )
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path
