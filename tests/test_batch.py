"""`ferops batch` on a local Ray (2 CPUs): videos built in the test (real FER-2013 faces placed on a
plain background, read from the data file at run time), scored in frame ranges much shorter than
the videos so range boundaries fall inside tracks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ferops.registry.loading import pin
from support.processes import clean_env
from support.data import needs_real_data
from support.faces import compose, detectable_faces
from support.processes import run_cli
from support.videos import write_video
from ferops.apps.cli import app
from ferops.recording.summary import observations, summarise_people
from ferops.core.fer2013 import EMOTIONS

ray = pytest.importorskip("ray", reason="the scale extra (ray) is not installed: pip install -e '.[scale]'")

from ferops.scale import batch  # noqa: E402

pytestmark = [needs_real_data, pytest.mark.ray, pytest.mark.slow]  # Ray start-up and a model load per actor
CHUNK = 4  # frames per range: every video below is cut into several


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory, registered_model, local_ray):
    """Three sources: a two-face video (15 fps), a folder holding a one-face (10 fps) and a no-face
    video, and a file that is not a video. Scored once for the tests of this module."""
    uri, _, _ = registered_model
    root = tmp_path_factory.mktemp("archive")
    faces = detectable_faces(2)
    two = write_video(root / "two_faces.mp4", [compose(faces, shift=k) for k in range(14)] + [compose([])] * 3)
    (root / "home_b").mkdir()
    write_video(root / "home_b" / "one_face.mp4", [compose(faces[1:], shift=2 * k) for k in range(10)], fps=10.0)
    rng = np.random.default_rng(0)
    noise = [cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (31, 31), 0) for _ in range(6)]
    write_video(root / "home_b" / "no_face.mp4", noise)
    (root / "home_b" / "notes.txt").write_text("not a video, not picked from a folder\n")
    broken = root / "broken.mp4"
    broken.write_text("this is not a video\n" * 100)
    sources = [str(two), str(root / "home_b"), str(broken)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("MLFLOW_REGISTRY_URI", uri)  # mlflow exports both when set; undone with the context
        model, _ = pin("models:/fer@production")
        # Haar, as the webcam runs it with --detector haar: the agreement test compares the two.
        result = batch.run(sources, root / "out", model, chunk_frames=CHUNK, progress=False, detector="haar")
    return {"root": root, "out": root / "out", "sources": sources, "result": result, "uri": uri, "model": model}


def read(archive, table: str) -> pd.DataFrame:
    return pd.read_parquet(archive["out"] / f"{table}.parquet")


def test_alias_is_pinned_to_a_version(archive):
    assert archive["model"] == "models:/fer/1"


def test_rows_are_frames_times_faces(archive):
    frames, videos = read(archive, "frames"), read(archive, "videos").set_index("video")
    root = archive["root"]
    per_video = frames.groupby("video").size().to_dict()
    assert per_video == {str(root / "two_faces.mp4"): 14 * 2, str(root / "home_b" / "one_face.mp4"): 10}
    assert videos.loc[str(root / "two_faces.mp4"), ["frames", "faces", "people"]].tolist() == [17, 28, 2]
    assert videos.loc[str(root / "home_b" / "one_face.mp4"), ["frames", "faces", "people"]].tolist() == [10, 10, 1]
    assert videos.loc[str(root / "home_b" / "no_face.mp4"), ["frames", "faces", "people"]].tolist() == [6, 0, 0]
    assert len(read(archive, "sessions")) == 3
    probs = frames[[f"p_{e}" for e in EMOTIONS]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert (frames["label"] == [EMOTIONS[i] for i in probs.argmax(axis=1)]).all()
    assert frames["detector_confidence"].isna().all(), "the Haar cascade gives no confidence"


def test_recording_time(archive):
    frames = read(archive, "frames")
    fps = {str(archive["root"] / "two_faces.mp4"): 15.0, str(archive["root"] / "home_b" / "one_face.mp4"): 10.0}
    assert np.allclose(frames["t"], frames["frame"] / frames["video"].map(fps), atol=1e-9)
    assert read(archive, "videos").set_index("video")["duration_s"].to_dict()[
        str(archive["root"] / "two_faces.mp4")
    ] == pytest.approx(17 / 15)


def test_track_ids_stable_across_range_boundaries(archive):
    frames = read(archive, "frames")
    two = frames[frames["video"] == str(archive["root"] / "two_faces.mp4")]
    assert two["frame"].max() >= 3 * CHUNK, "the faces cross several range boundaries"
    for track, rows in two.groupby("track"):
        assert len(rows) == 14 and rows["frame"].tolist() == list(range(14)), track
        assert rows["box_x"].max() - rows["box_x"].min() < 60, "one track, one face"
    left = two.sort_values("box_x").groupby("frame")["track"].first()
    assert left.nunique() == 1 and sorted(two["track"].unique()) == [0, 1]


def test_agrees_with_webcam_headless(archive, tmp_path):
    """Same frames, boxes, ids, labels and (smoothed) probabilities within 1e-3 as `ferops webcam
    --headless --detector haar` on the same video: both run the same detector settings and the same tracker.
    (Haar searches every frame afresh, so the two agree exactly even with 4-frame ranges; YuNet's video
    finder follows faces from frame to frame, and a range's finder, started a little before it, agrees
    from a few frames on: tests/test_faces.py, benchmarks/tracking.py --agreement.)"""
    video = archive["root"] / "two_faces.mp4"
    log = tmp_path / "session.jsonl"
    r = run_cli(
        "webcam",
        "--source",
        str(video),
        "--headless",
        "--detector",
        "haar",
        "--log",
        str(log),
        env=clean_env(MLFLOW_TRACKING_URI=archive["uri"]),
    )
    assert r.returncode == 0, r.stderr[-2000:]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    frames = read(archive, "frames")
    frames = frames[frames["video"] == str(video)]
    assert len(records) == 17 and sum(len(r["faces"]) for r in records) == len(frames)
    for rec in records:
        rows = frames[frames["frame"] == rec["frame"]]
        assert len(rows) == len(rec["faces"])
        for face, (_, row) in zip(rec["faces"], rows.iterrows()):
            assert face["id"] == row["track"]
            assert face["box"] == [row["box_x"], row["box_y"], row["box_w"], row["box_h"]]
            assert face["label"] == row["label"] and face["raw_label"] == row["raw_label"]
            assert np.allclose([face["probs"][e] for e in EMOTIONS], [row[f"p_{e}"] for e in EMOTIONS], atol=1e-3)
            assert abs(face["confidence"] - row["confidence"]) < 1e-3
    # The summary `ferops report` would give for the webcam's log (in recording time) is batch's sessions row.
    webcam_people = summarise_people(observations({**r, "t": r["frame"] / 15.0} for r in records))
    sessions = read(archive, "sessions")
    sessions = sessions[sessions["video"] == str(video)].set_index("track")
    for person, s in webcam_people.items():
        assert sessions.loc[person, "seconds_seen"] == pytest.approx(s["seconds_seen"])
        for k, share in s["share"].items():
            assert sessions.loc[person, f"share_{k}"] == pytest.approx(share)


def test_errors_file_lists_the_unreadable_video(archive):
    errors = read(archive, "errors")
    assert errors["video"].tolist() == [str(archive["root"] / "broken.mp4")]
    assert "not a readable video" in errors["reason"].iloc[0] and len(errors["video_sha256"].iloc[0]) == 64
    assert sorted(Path(v).name for v in archive["result"].done) == ["no_face.mp4", "one_face.mp4", "two_faces.mp4"]


def test_rerun_skips_done_videos_by_content_then_force_redoes(archive, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", archive["uri"])
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", archive["uri"])
    parts = sorted((archive["out"] / "frames.parquet").iterdir())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in parts}
    renamed = archive["root"] / "copy_of_two.mp4"  # the same recording under another name: done already
    shutil.copy(archive["root"] / "two_faces.mp4", renamed)
    runner = CliRunner()
    again = runner.invoke(
        app,
        [
            "batch",
            *archive["sources"],
            str(renamed),
            "--out",
            str(archive["out"]),
            "--chunk-frames",
            str(CHUNK),
            "--no-progress",
        ],
    )
    assert again.exit_code == 1, "the broken video still fails"
    assert again.output.count("batch: skipped") == 4 and "0 scored, 4 skipped, 1 failed" in again.output
    assert again.output.strip().splitlines()[-1].startswith(f"error: {archive['root'] / 'broken.mp4'}")
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in parts} == before
    forced = runner.invoke(
        app,
        [
            "batch",
            str(archive["root"] / "two_faces.mp4"),
            "--out",
            str(archive["out"]),
            "--chunk-frames",
            str(CHUNK),
            "--no-progress",
            "--force",
            "--detector",
            "haar",
        ],
    )
    assert forced.exit_code == 0, forced.output
    assert "1 scored, 0 skipped, 0 failed" in forced.output
    assert read(archive, "errors").empty, "errors.parquet holds the last run's failures"
    after = read(archive, "frames")
    assert len(after) == 38 and sorted(after["video"].unique()) == sorted(
        str(archive["root"] / p) for p in ("two_faces.mp4", "home_b/one_face.mp4")
    )


def test_cli_errors_are_one_line(registered_model, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model[0])
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", registered_model[0])
    runner = CliRunner()
    r = runner.invoke(app, ["batch", str(tmp_path / "empty_dir*"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and r.output.strip() == f"error: no videos found in {tmp_path / 'empty_dir*'}"
    video = write_video(tmp_path / "v.mp4", [compose([])] * 2)
    r = runner.invoke(app, ["batch", str(video), "--out", str(tmp_path / "o"), "--detector", "mtcnn"])
    assert r.exit_code == 1 and r.output.strip() == "error: unknown face detector 'mtcnn'; choose one of yunet, haar"
    r = runner.invoke(app, ["batch", str(video), "--out", str(tmp_path / "o"), "--model-uri", "models:/nope@x"])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: model URI 'models:/nope@x'")
    assert "registered models in " in lines[0] and ": fer (versions 1; @production=1)" in lines[0]
    (tmp_path / "file").write_text("x")
    r = runner.invoke(app, ["batch", str(video), "--out", str(tmp_path / "file")])
    assert r.exit_code == 1 and r.output.strip() == f"error: --out {tmp_path / 'file'} is a file, not a folder"


def test_a_model_the_actors_cannot_load_stops_with_an_error_line(local_ray, tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")  # passes the driver's check (the file exists); fails in every actor
    video = write_video(tmp_path / "v.mp4", [compose([])] * 4)
    r = CliRunner().invoke(
        app, ["batch", str(video), "--out", str(tmp_path / "o"), "--model-uri", str(bad), "--no-progress"]
    )
    errors = [line for line in r.output.splitlines() if line.startswith("error: ")]
    assert r.exit_code == 1 and len(errors) == 1 and str(bad) in errors[0], r.output
    assert not (tmp_path / "o" / "videos.parquet").exists()
