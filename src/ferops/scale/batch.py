"""`ferops batch`: score archives of recordings on Ray Data, locally or on a cluster.

plan (driver): expand sources -> fingerprint (sha256) -> skip what DIR already holds -> probe -> ranges
score (Ray Data, an autoscaling pool of actors, each loading the model once): decode + detect + classify
assemble (driver, streaming): once all ranges of a video are back -> track + smooth in frame order ->
    frames / sessions / videos rows -> written atomically, one file per video
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ferops.core.errors import FerOpsError
from ferops.runtime.faces import DEFAULT_DETECTOR
from ferops.scale import tables
from ferops.scale.scoring import RangeScorer, decode_range
from ferops.scale.videos import Failure, Video, expand, frame_ranges, probe

CHUNK_FRAMES = 600  # a range: ~20-40 s of video, seconds of work; small enough to spread one long video


@dataclass
class Summary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    warmup_seconds: float = 0.0  # until the first range came back: probing, actor start-up, model loads
    warmup_frames: int = 0  # the frames of that first range

    def steady_fps(self) -> float:
        """Frames per second once the actors were up: what a long archive runs at."""
        seconds = self.seconds - self.warmup_seconds
        return (self.frames - self.warmup_frames) / seconds if seconds > 0 else 0.0


class BatchError(FerOpsError, RuntimeError):
    """The run as a whole could not go on; the videos finished before stay written."""


def _first_line(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{error.__class__.__name__}: {lines[-1] if lines else ''}"


def _absolute_tracking_uri() -> str:
    """Workers may start in another folder: a relative sqlite path is made absolute for them."""
    from ferops.core.tracking import tracking_uri

    uri = tracking_uri()
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


RAY_CONNECT_TIMEOUT_S = 5.0


def check_ray_address(address: str, given_as: str) -> None:
    """BatchError, in seconds, where nothing answers at a cluster's address: ray.init retries it forever."""
    import socket
    from urllib.parse import urlparse

    if address in ("auto", "local"):
        return
    url = urlparse(address if "://" in address else f"gcs://{address}")
    try:
        host, port = url.hostname, url.port or (10001 if url.scheme == "ray" else 6379)
    except ValueError:  # not host:port: Ray's own error says what it expects
        return
    if not host:
        return
    try:
        socket.create_connection((host, port), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = e.strerror or e.__class__.__name__  # a timeout has no strerror
        raise BatchError(
            f"Ray cluster {address} ({given_as}) is unreachable ({reason} at {host}:{port} within "
            f"{RAY_CONNECT_TIMEOUT_S:g} s); start it (ray start --head), or leave --ray-address and RAY_ADDRESS "
            "unset to run Ray on this machine"
        ) from None


def _start_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connects to `address` (or $RAY_ADDRESS), else starts Ray on this machine. True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    given_as = "--ray-address" if address else "RAY_ADDRESS"
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        check_ray_address(address, given_as)
        ray.init(address=address, log_to_driver=False)
    else:
        # "local": a fresh instance on this machine, never someone else's `ray start` found by chance.
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    return True


def run(
    sources: list[str],
    out: Path,
    model_uri: str,
    every: int = 1,
    force: bool = False,
    smooth: bool = True,
    chunk_frames: int = CHUNK_FRAMES,
    ray_address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
    log=print,
    detector: str = DEFAULT_DETECTOR,
    memory_s: float | None = None,
) -> Summary:
    """Scores every video of `sources` not yet in `out` (all of them with force); returns what happened."""
    import ray
    import ray.exceptions
    from tqdm import tqdm

    started, first = time.perf_counter(), None
    result = Summary()
    output = tables.Output(out)
    videos: list[Video] = []
    seen: set[str] = set()
    for path in tqdm(expand(sources), desc="probe", unit="video", disable=not progress, file=sys.stderr):
        found = probe(path)
        if isinstance(found, Failure):
            result.failed.append(found)
        elif found.sha256 in seen or (output.done(found.sha256) and not force):
            result.skipped.append(found.path)  # done before, or the same recording under another name
        else:
            seen.add(found.sha256)
            videos.append(found)
    for v in result.skipped:
        log(f"batch: skipped {v} (already in {out}; --force to redo)")

    if videos:
        by_sha = {v.sha256: v for v in videos}
        items = [
            {"path": v.path, "sha256": v.sha256, "start": s, "stop": -1 if e is None else e}
            for v in videos
            for s, e in frame_ranges(v, chunk_frames)
        ]
        pending = defaultdict(int)
        for item in items:
            pending[item["sha256"]] += 1
        started_ray = _start_ray(ray_address, num_cpus)
        try:
            import ray.data

            # Ray Data logs a failing actor's whole traceback to the console; the user gets one error
            # line instead, and Ray keeps the full logs in its session folder (/tmp/ray/session_latest).
            logging.getLogger("ray.data").setLevel(logging.CRITICAL)
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = progress
            # One actor per CPU, all started up front: each spends seconds loading TensorFlow and the
            # model, and an autoscaling pool would add the second one only after the first is busy.
            actors = max(1, min(int(ray.cluster_resources().get("CPU", 1)), len(items)))
            scored = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                RangeScorer,
                fn_constructor_kwargs={
                    "model_uri": model_uri,
                    "every": every,
                    "tracking_uri": _absolute_tracking_uri(),
                    "detector": detector,
                },
                batch_size=1,
                num_cpus=1,
                compute=ray.data.ActorPoolStrategy(min_size=actors, max_size=actors),
            )
            ranges: dict[str, list[dict]] = defaultdict(list)
            total = sum(v.frames for v in videos)
            with tqdm(total=total, desc="frames", unit="frame", disable=not progress, file=sys.stderr) as bar:
                try:
                    rows = iter(scored.iter_rows())
                    row = next(rows, None)
                except ray.exceptions.RayError as e:  # e.g. the actors could not load the model
                    raise BatchError(_first_line(e)) from None
                while row is not None:
                    r = decode_range(row)
                    if first is None:
                        first, result.warmup_frames = time.perf_counter(), r["frames_read"]
                    sha = str(row["sha256"])
                    ranges[sha].append(r)
                    bar.update(r["frames_read"])
                    pending[sha] -= 1
                    if pending[sha] == 0:
                        _finish(by_sha[sha], ranges.pop(sha), output, result, every, smooth, model_uri, log, memory_s)
                    try:
                        row = next(rows, None)
                    except ray.exceptions.RayError as e:  # an actor died (out of memory, a node lost)
                        raise BatchError(
                            f"stopped after {len(result.done)} videos (those are written; run again to go on): "
                            + _first_line(e)
                        ) from None
        finally:
            if started_ray:
                ray.shutdown()
    errors = output.write_errors(result.failed)
    result.seconds = time.perf_counter() - started
    result.warmup_seconds = first - started if first else 0.0
    log(
        f"batch: {len(result.done)} scored, {len(result.skipped)} skipped, {len(result.failed)} failed "
        f"({errors if result.failed else 'no errors'}); {result.frames} frames, {result.faces} faces "
        f"in {result.seconds:.1f} s ({result.warmup_seconds:.1f} s to start) -> {out}"
    )
    return result


def _finish(video: Video, ranges, output, result: Summary, every, smooth, model_uri, log, memory_s) -> None:
    errors = [r["error"] for r in ranges if r["error"]]
    if errors:
        result.failed.append(Failure(video.path, video.sha256, "; ".join(errors)))
        return
    frames, decoded = tables.track(video, ranges, every, smooth, *([] if memory_s is None else [memory_s]))
    people = tables.sessions(video, frames)
    output.write_video(
        video.sha256,
        frames,
        people,
        tables.video_row(video, decoded, every, frames, people.num_rows, model_uri, smooth),
    )
    result.done.append(video.path)
    result.frames += decoded
    result.faces += frames.num_rows
    log(f"batch: {video.path}: {decoded} frames, {frames.num_rows} faces, {people.num_rows} people")
