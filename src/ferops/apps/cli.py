"""The `ferops` command line: webcam, predict, report, serve."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import typer

from ferops.registry.loading import DEFAULT_MODEL_URI

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Facial emotion recognition on the registered FER-2013 model."
)


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _classifier(model_uri: str):
    from ferops.registry.loading import ModelNotFound, load_classifier

    try:
        return load_classifier(model_uri)
    except ModelNotFound as e:
        fail(str(e))


@app.command()
def webcam(
    model_uri: str = typer.Option(
        DEFAULT_MODEL_URI,
        help="models:/fer@production, models:/fer/Production, runs:/..., a model folder or a .keras file",
    ),
    source: str = typer.Option("0", help="camera index, video file, or stream URL (rtsp://, http://)"),
    headless: bool = typer.Option(False, help="no window (servers, CI, recordings)"),
    output: Path | None = typer.Option(None, help="write the annotated video here (.mp4)"),
    log: Path | None = typer.Option(None, help="write one JSON line per frame here (for `ferops report`)"),
    max_frames: int | None = typer.Option(None, min=1, help="stop after N frames"),
    smooth: bool = typer.Option(True, help="smooth each face's probabilities across frames"),
    detector: str = typer.Option("yunet", help="face detector: yunet (CNN, default) or haar"),
) -> None:
    """Live emotion detection from a camera, a video file or a stream. `q` or Esc quits."""
    from ferops.apps import live
    from ferops.runtime.video_faces import video_detector

    finder = _detector(detector, video_detector)

    try:
        src = live.open_source(source)
    except live.SourceError as e:
        fail(str(e))
    classifier = _classifier(model_uri)
    show = None
    if not headless:
        import cv2

        def show(frame) -> bool:
            try:
                cv2.imshow("ferops", frame)
            except cv2.error:
                raise live.SourceError(
                    "this OpenCV build cannot open a window (opencv-python-headless): use --headless "
                    "with --output/--log, or install opencv-python<5 for a live window"
                ) from None
            return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    with ExitStack() as stack:
        log_file = stack.enter_context(open(log, "w")) if log else None
        try:
            frames = live.run(
                src,
                finder,
                classifier,
                live.Options(max_frames=max_frames, smooth=smooth),
                log=log_file,
                writer_path=output,
                show=show,
            )
        except live.SourceError as e:
            fail(str(e))
        except KeyboardInterrupt:
            frames = None
    typer.echo(
        f"webcam: processed {frames if frames is not None else 'some'} frames"
        + (f", log {log}" if log else "")
        + (f", video {output}" if output else ""),
        err=True,
    )


def _detector(name: str, make):
    try:
        return make(name)
    except ValueError as e:
        fail(str(e))


@app.command()
def predict(
    paths: list[Path] = typer.Argument(..., help="images or folders of images"),
    model_uri: str = typer.Option(DEFAULT_MODEL_URI, help="model URI or .keras file"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines instead of a table"),
    annotate: Path | None = typer.Option(
        None, help="write annotated copies here, under each image's path relative to its input folder"
    ),
    whole_image: bool = typer.Option(False, help="treat each image as one face crop (no detection)"),
    detector: str = typer.Option("yunet", help="face detector: yunet (CNN, default) or haar"),
) -> None:
    """Detect faces in images and classify their emotions. Exits 1 if any input was skipped or not written."""
    from ferops.apps import photos
    from ferops.apps.overlay import draw
    from ferops.runtime.imaging import InputError
    from ferops.runtime.pipeline import analyse, face_record
    from ferops.runtime.video_faces import photo_detector

    found, failures = photos.find_images(paths)
    for message in failures:
        typer.echo(f"skipped: {message}", err=True)
    targets = {}
    if annotate is not None:
        try:
            targets = photos.annotation_targets(found, annotate)
        except photos.AnnotateError as e:
            fail(str(e))
    finder = None if whole_image else _detector(detector, photo_detector)
    classifier = _classifier(model_uri)
    if not as_json:
        typer.echo(f"{'file':40} {'face':>4} {'box':>20} {'label':>9} {'conf':>5}")
    for image_path in found:
        try:
            image = photos.read_image(image_path)
        except InputError as e:
            typer.echo(f"skipped: {e}", err=True)
            failures.append(str(e))
            continue
        faces, probs = analyse(image, finder, classifier)
        records = [face_record(f, p) for f, p in zip(faces, probs)]
        if as_json:
            typer.echo(json.dumps({"file": str(image_path.path), "faces": records}))
        else:
            name = str(image_path.path)[-40:]
            if not records:
                typer.echo(f"{name:40} {'-':>4} {'no face found':>20}")
            for k, f in enumerate(records):
                typer.echo(f"{name:40} {k:>4} {str(f['box']):>20} {f['label']:>9} {f['confidence']:>5.2f}")
        if image_path in targets:
            try:
                photos.write_image(targets[image_path], draw(image, records), annotate)
            except photos.AnnotateError as e:
                typer.echo(f"not written: {e}", err=True)
                failures.append(str(e))
    if failures:
        typer.echo(f"predict: {len(failures)} input(s) skipped or not written", err=True)
        raise typer.Exit(1)


@app.command()
def report(
    log: Path = typer.Argument(..., help="a session log written by `ferops webcam --log`"),
    out: Path | None = typer.Option(None, help="folder for the report (default: beside the log)"),
) -> None:
    """Summarise a session: time share per emotion, timeline plot, longest stretches, frames without a face."""
    from ferops.apps.report import ReportError, write_report

    try:
        png, page = write_report(log, out or log.parent)
    except ReportError as e:
        fail(str(e))
    typer.echo(f"report: {page} (timeline {png})")


@app.command()
def serve(
    model_uri: str = typer.Option("models:/fer/Production", help="the model to serve"),
    port: int = typer.Option(5001, help="port on 127.0.0.1 (use --host 0.0.0.0 to expose)"),
    host: str = typer.Option("127.0.0.1"),
    workers: int = typer.Option(1, help="server worker processes (each loads the model)"),
    timeout: int = typer.Option(60, help="request timeout in seconds"),
) -> None:
    """Run `mlflow models serve` with ferops's defaults (local env, the tracking store, one worker)."""
    from ferops.core.tracking import tracking_uri

    mlflow_bin = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    # The server spawns uvicorn by name: this interpreter's bin/ first, even from an unactivated venv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(), "PATH": path}
    cmd = [
        mlflow_bin,
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        host,
        "-p",
        str(port),
        "--workers",
        str(workers),
        "--timeout",
        str(timeout),
    ]
    typer.echo(" ".join(cmd), err=True)
    raise typer.Exit(subprocess.call(cmd, env=env))


if __name__ == "__main__":
    app()
