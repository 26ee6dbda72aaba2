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

from ferops.apps.sessions import DEFAULT_ROOT as SESSIONS_DIR
from ferops.registry.loading import DEFAULT_MODEL_URI

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Facial emotion recognition on the registered FER-2013 model."
)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


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
    headless: bool = typer.Option(False, help="no live view at all (servers, CI, recordings)"),
    output: Path | None = typer.Option(None, help="write the annotated video here (.mp4)"),
    log: Path | None = typer.Option(None, help="write one JSON line per frame here (for `ferops report`)"),
    max_frames: int | None = typer.Option(None, min=1, help="stop after N frames"),
    smooth: bool = typer.Option(True, help="smooth each face's probabilities across frames"),
) -> None:
    """Live emotion detection from a camera, a video file or a stream.

    The live view is a window where OpenCV can open one, else a local page in the browser (its
    address is printed). `q`, Esc, the page's Stop button, Ctrl-C or SIGTERM end the run cleanly."""
    import signal

    from ferops.apps import live, live_page
    from ferops.runtime.faces import live_detector

    options = live.Options(max_frames=max_frames, smooth=smooth)

    def finish(signum, _frame) -> None:
        options.stop.set()  # the loop ends after this frame and closes the video and log properly
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once

    # From the start, so a stop while the model loads is clean too; the previous handlers come back after.
    previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGTERM, signal.SIGINT)}
    with ExitStack() as stack:
        stack.callback(lambda: [signal.signal(sig, handler) for sig, handler in previous.items()])
        try:
            live.check_outputs(source, output, log)
            if log:
                live.check_log_folder(log)
            src = live.open_source(source)
        except (live.SourceError, live.OutputError) as e:
            fail(str(e))
        stack.callback(src.capture.release)
        classifier = _classifier(model_uri)
        try:  # opened last: a source or model that fails leaves an existing log as it was
            log_file = stack.enter_context(live.open_log(log)) if log else None
        except live.OutputError as e:
            fail(str(e))
        show = None
        if not headless and live_page.has_window():
            import cv2

            def show(frame) -> bool:
                cv2.imshow("ferops", frame)
                return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

        elif not headless:
            page = stack.enter_context(live_page.LivePage(options.stop))
            opened = live_page.open_browser(page.url)
            typer.echo(f"live view: {page.url}" + ("" if opened else " (open it in a browser)"), err=True)
            show = page.show

        try:
            frames = live.run(src, live_detector(), classifier, options, log=log_file, writer_path=output, show=show)
        except (live.SourceError, live.OutputError) as e:
            fail(str(e))
    typer.echo(
        f"webcam: processed {frames} frames"
        + (" (stopped)" if options.stop.is_set() else "")
        + (f", log {log}" if log else "")
        + (f", video {output}" if output else ""),
        err=True,
    )


def _images(paths: list[Path]) -> list[Path]:
    found = []
    for p in paths:
        if p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(p)
    return found


@app.command()
def predict(
    paths: list[Path] = typer.Argument(..., help="images or folders of images"),
    model_uri: str = typer.Option(DEFAULT_MODEL_URI, help="model URI or .keras file"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines instead of a table"),
    annotate: Path | None = typer.Option(None, help="write annotated copies into this folder"),
    whole_image: bool = typer.Option(False, help="treat each image as one face crop (no detection)"),
) -> None:
    """Detect faces in images and classify their emotions."""
    import cv2

    from ferops.runtime.faces import HaarDetector, crop
    from ferops.runtime.classifier import describe
    from ferops.apps.overlay import draw

    classifier = _classifier(model_uri)
    detector = HaarDetector()
    failures = 0
    if not as_json:
        typer.echo(f"{'file':40} {'face':>4} {'box':>20} {'label':>9} {'conf':>5}")
    for path in _images(paths):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            typer.echo(f"skipped: {path}: {'not found' if not path.exists() else 'not a readable image'}", err=True)
            failures += 1
            continue
        h, w = image.shape[:2]
        boxes = [(0, 0, w, h)] if whole_image else detector.detect(image)
        probs = classifier.classify_faces([crop(image, b) for b in boxes])
        faces = [{"box": list(b), **describe(p)} for b, p in zip(boxes, probs)]
        if as_json:
            typer.echo(json.dumps({"file": str(path), "faces": faces}))
        else:
            if not faces:
                typer.echo(f"{str(path)[-40:]:40} {'-':>4} {'no face found':>20}")
            for k, f in enumerate(faces):
                typer.echo(f"{str(path)[-40:]:40} {k:>4} {str(f['box']):>20} {f['label']:>9} {f['confidence']:>5.2f}")
        if annotate:
            annotate.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(annotate / path.name), draw(image, faces))
    if failures:
        typer.echo(f"predict: {failures} file(s) skipped", err=True)


@app.command()
def report(
    log: Path = typer.Argument(..., help="a session log written by `ferops webcam --log`"),
    out: Path | None = typer.Option(None, help="folder for the report (default: beside the log)"),
) -> None:
    """Summarise a session per person: time share per emotion, timeline, longest stretches, changes, uncertain."""
    from ferops.apps.report import ReportError, write_report

    try:
        page, warnings = write_report(log, out or log.parent)
    except ReportError as e:
        fail(str(e))
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"report: {page}")


@app.command("app")
def session_app(
    port: int = typer.Option(8000, help="port of the page"),
    sessions: Path = typer.Option(SESSIONS_DIR, help="the session library: one folder per session"),
    host: str = typer.Option("127.0.0.1", help="127.0.0.1 keeps it on this computer; any other needs the token"),
    model_uri: str = typer.Option(DEFAULT_MODEL_URI, help="the model every session uses"),
) -> None:
    """Run and review sessions in the browser: start from a camera, stream or recording, watch, stop, review."""
    from ferops.apps import live_page, session_app as web
    from ferops.runtime.faces import live_detector

    if sessions.exists() and not sessions.is_dir():
        fail(f"--sessions {sessions} is a file, not a folder")
    try:
        sessions.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"cannot create the sessions folder {sessions}: {e.strerror}")
    classifier = _classifier(model_uri)

    def ready(url: str) -> None:
        opened = live_page.open_browser(url)
        typer.echo(f"ferops app: {url}" + ("" if opened else " (open it in a browser)") + f"; sessions in {sessions}",
                   err=True)

    web.serve(sessions, host, port, model_uri, classifier, web.model_version(model_uri), live_detector,
              on_ready=ready)


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
