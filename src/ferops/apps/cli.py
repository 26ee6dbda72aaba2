"""The `ferops` command line: webcam, predict, report, serve."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import typer

from ferops.apps.responses import WINDOW_S as RESPONSE_WINDOW_S
from ferops.apps.sessions import DEFAULT_ROOT as SESSIONS_DIR
from ferops.core.errors import FerOpsError
from ferops.registry.names import PRODUCTION_URI, STAGE_URI

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Facial emotion recognition on the registered FER-2013 model."
)


def error(message: str) -> None:
    """The one-line form of every problem a command reports, whether it stops there or goes on."""
    typer.echo(f"error: {message}", err=True)


def fail(message: str, code: int = 1) -> None:
    error(message)
    raise typer.Exit(code)


def command(*args, **kwargs):
    """app.command for every command: a FerOpsError that the command lets through (a model that does not
    resolve, a source that cannot be opened, bad params...) is its one `error:` line and exit 1. Any other
    exception is a bug and keeps its traceback."""

    def register(fn):
        @functools.wraps(fn)
        def run(*a, **kw):
            try:
                return fn(*a, **kw)
            except FerOpsError as e:
                fail(str(e))

        return app.command(*args, **kwargs)(run)

    return register


def _classifier(model_uri: str):
    from ferops.registry.loading import load_classifier

    return load_classifier(model_uri)


@command()
def webcam(
    model_uri: str = typer.Option(
        PRODUCTION_URI,
        help=f"{PRODUCTION_URI}, {STAGE_URI}, runs:/..., a model folder or a .keras file (with calibration.json)",
    ),
    source: str = typer.Option("0", help="camera index, video file, or stream URL (rtsp://, http://)"),
    headless: bool = typer.Option(False, help="no live view at all (servers, CI, recordings)"),
    output: Path | None = typer.Option(None, help="write the annotated video here (.mp4)"),
    log: Path | None = typer.Option(None, help="write one JSON line per frame here (for `ferops report`)"),
    max_frames: int | None = typer.Option(None, min=1, help="stop after N frames"),
    smooth: bool = typer.Option(True, help="smooth each face's probabilities across frames"),
    detector: str = typer.Option("yunet", help="face detector: yunet (CNN, default) or haar"),
    track_memory: float | None = typer.Option(
        None, min=0.0, help="seconds a person out of sight keeps her id (default suits seated people: 10)"
    ),
    markers: Path | None = typer.Option(
        None, help="write markers here (JSON, for `ferops report --markers`): `m` in the window, or a line typed "
        "in this terminal (its text is the note), marks the current moment; markers already in FILE are kept"
    ),
) -> None:
    """Live emotion detection from a camera, a video file or a stream.

    The live view is a window where OpenCV can open one, else a local page in the browser (its
    address is printed). `q`, Esc, the page's Stop button, Ctrl-C or SIGTERM end the run cleanly."""
    import signal

    from ferops.apps import live, live_page
    from ferops.recording import framelog, videosource
    from ferops.apps import markers as markers_
    from ferops.runtime.faces import create

    finder = create(detector, "video")  # an unknown name: one line, before the model is loaded
    recorder = None
    if markers is not None:
        framelog.check_outputs(source, markers)
        recorder = markers_.Recorder(markers)
    now = {"t": 0.0}  # the recording time of the last frame: where a marker goes

    def mark(note: str = "") -> None:
        m = recorder.add(now["t"], note)
        typer.echo(f"marker at {m['t']:.1f} s" + (f": {m['note']}" if m["note"] else ""), err=True)

    options = live.Options(max_frames=max_frames, smooth=smooth)
    if track_memory is not None:
        options.memory_s = track_memory

    def finish(signum, _frame) -> None:
        options.stop.set()  # the loop ends after this frame and closes the video and log properly
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once

    # From the start, so a stop while the model loads is clean too; the previous handlers come back after.
    previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGTERM, signal.SIGINT)}
    with ExitStack() as stack:
        stack.callback(lambda: [signal.signal(sig, handler) for sig, handler in previous.items()])
        framelog.check_outputs(source, output, log, markers)
        if log:
            framelog.check_log_folder(log)
        src = videosource.open_source(source)
        stack.callback(src.capture.release)
        classifier = _classifier(model_uri)
        # Opened last: a source or model that fails leaves an existing log as it was.
        log_file = stack.enter_context(framelog.open_log(log)) if log else None
        show = None
        if not headless and live_page.has_window():
            import cv2

            def show(frame) -> bool:
                cv2.imshow("ferops", frame)
                key = cv2.waitKey(1) & 0xFF
                if key == ord("m") and recorder is not None:
                    mark()
                return key not in (ord("q"), 27)

        elif not headless:
            page = stack.enter_context(live_page.LivePage(options.stop))
            opened = live_page.open_browser(page.url)
            typer.echo(f"live view: {page.url}" + ("" if opened else " (open it in a browser)"), err=True)
            show = page.show

        if recorder is not None:
            import threading

            def typed() -> None:  # each line typed in the terminal marks the moment it was entered
                for line in sys.stdin:
                    if options.stop.is_set():
                        break
                    mark(line.strip())

            threading.Thread(target=typed, daemon=True).start()
        frames = live.run(src, finder, classifier, options, log=log_file, writer_path=output, show=show,
                          on_record=lambda rec: now.update(t=rec["t"]))
    typer.echo(
        f"webcam: processed {frames} frames"
        + (" (stopped)" if options.stop.is_set() else "")
        + (f", log {log}" if log else "")
        + (f", video {output}" if output else "")
        + (f", {len(recorder.markers)} markers {markers}" if recorder is not None else ""),
        err=True,
    )


@command()
def predict(
    paths: list[Path] = typer.Argument(..., help="images or folders of images"),
    model_uri: str = typer.Option(PRODUCTION_URI, help="model URI or .keras file (with calibration.json)"),
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
    from ferops.runtime.faces import create
    from ferops.runtime.imaging import InputError
    from ferops.runtime.pipeline import analyse, face_record

    found, failures = photos.find_images(paths)
    if not found:  # nothing to do: one line, before the model is loaded
        fail("no image to read: " + ("; ".join(failures) or f"no image files in {', '.join(map(str, paths))}"))
    for message in failures:
        error(f"{message} (skipped)")
    targets = {}
    if annotate is not None:
        targets = photos.annotation_targets(found, annotate)
    finder = None if whole_image else create(detector, "photo")
    classifier = _classifier(model_uri)
    if not as_json:
        typer.echo(f"{'file':40} {'face':>4} {'box':>20} {'label':>9} {'conf':>5}")
    for image_path in found:
        try:
            image, scale = photos.read_image(image_path)
        except InputError as e:
            error(f"{e} (skipped)")
            failures.append(str(e))
            continue
        faces, probs = analyse(image, finder, classifier)
        found = [face_record(f, p) for f, p in zip(faces, probs)]  # in the pixels read (a large JPEG: reduced)
        records = [photos.full_size(r, scale) for r in found]
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
                photos.write_image(targets[image_path], draw(image, found), annotate)
            except photos.AnnotateError as e:
                error(f"{e} (not written)")
                failures.append(str(e))
    if failures:
        typer.echo(f"predict: {len(failures)} input(s) skipped or not written", err=True)
        raise typer.Exit(1)


@command()
def report(
    log: Path = typer.Argument(..., help="a session log written by `ferops webcam --log`"),
    out: Path | None = typer.Option(None, help="folder for the report (default: beside the log)"),
    names: Path | None = typer.Option(
        None, help='JSON {"track id": "name"}: tracks given one name are one person (default: the session.json '
        "beside the log, as `ferops app` writes it)"
    ),
    markers: Path | None = typer.Option(
        None, help='JSON [{"t": seconds, "note": "...", "end": seconds or null}]: what was shown when (default: '
        "the markers.json beside the log, as `ferops app` writes it)"
    ),
    window: float = typer.Option(
        RESPONSE_WINDOW_S, min=1.0, help="seconds before and after each marker compared for each person's response"
    ),
) -> None:
    """Summarise a session per person: valence and emotion shares, timelines, longest stretches, changes,
    and each person's response to each marker."""
    from ferops.apps.report import write_report

    page, warnings = write_report(log, out or log.parent, names, markers, window)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"report: {page}")


@command("app")
def session_app(
    port: int = typer.Option(8000, help="port of the page"),
    sessions: Path = typer.Option(SESSIONS_DIR, help="the session library: one folder per session"),
    host: str = typer.Option("127.0.0.1", help="127.0.0.1 keeps it on this computer; any other needs the token"),
    model_uri: str = typer.Option(PRODUCTION_URI, help="the model every session uses"),
    track_memory: float | None = typer.Option(
        None, min=0.0, help="seconds a person out of sight keeps her id (default suits seated people: 10)"
    ),
    window: float = typer.Option(
        RESPONSE_WINDOW_S, min=1.0, help="seconds before and after each marker compared for each person's response"
    ),
    keep_days: float | None = typer.Option(
        None, min=0.0, help="delete sessions older than this many days, at start and daily (default: keep)"
    ),
) -> None:
    """Run and review sessions in the browser: start from a camera, stream or recording, watch, stop, review."""
    from ferops.apps import live_page, session_app as web
    from ferops.runtime.faces import DEFAULT_DETECTOR, create

    if sessions.exists() and not sessions.is_dir():
        fail(f"--sessions {sessions} is a file, not a folder")
    try:
        sessions.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"cannot create the sessions folder {sessions}: {e.strerror}")
    from ferops.registry.loading import pin

    pinned, version = pin(model_uri)  # every session of this run uses one model, recorded with each
    classifier = _classifier(pinned)

    def ready(url: str) -> None:
        opened = live_page.open_browser(url)
        typer.echo(f"ferops app: {url}" + ("" if opened else " (open it in a browser)") + f"; sessions in {sessions}",
                   err=True)

    web.serve(sessions, host, port, model_uri, classifier, version,
              lambda: create(DEFAULT_DETECTOR, "video"), on_ready=ready, memory_s=track_memory, window_s=window,
              keep_days=keep_days)


@command()
def people(
    sessions: Path = typer.Option(SESSIONS_DIR, help="the session library (as `ferops app --sessions`)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Each named person across sessions: her sessions (date, length, face seen, valence) and the prompts
    that moved her most."""
    from ferops.apps import history

    if not sessions.is_dir():
        fail(f"--sessions {sessions}: no such folder")
    try:
        found, skipped = history.collect(sessions)
    except OSError as e:
        fail(f"cannot read the sessions folder {sessions}: {e.strerror}")
    typer.echo(history.as_json(found, skipped) if as_json else history.as_text(found, skipped), nl=not as_json)


@command()
def batch(
    sources: list[str] = typer.Argument(..., help="video files, folders (searched recursively) or glob patterns"),
    out: Path = typer.Option(..., help="output folder: frames, sessions, videos and errors .parquet"),
    model_uri: str = typer.Option(PRODUCTION_URI, help="model URI or .keras file (an alias is pinned to a version)"),
    ray_address: str | None = typer.Option(
        None, help="an existing Ray cluster (default: $RAY_ADDRESS, else Ray started on this machine)"
    ),
    every: int = typer.Option(1, min=1, help="score every N-th frame (recording times stay exact)"),
    force: bool = typer.Option(False, help="score videos again even if OUT already holds them"),
    smooth: bool = typer.Option(True, help="smooth each face's probabilities across frames, as `ferops webcam`"),
    chunk_frames: int = typer.Option(600, min=1, help="frames per work item: one long video spreads over workers"),
    num_cpus: int | None = typer.Option(None, min=1, help="CPUs for a local Ray (default: all)"),
    progress: bool = typer.Option(True, help="progress bars on stderr"),
    detector: str = typer.Option("yunet", help="face detector: yunet (the webcam's video finder, default) or haar"),
    track_memory: float | None = typer.Option(
        None, min=0.0, help="seconds a person out of sight keeps her id (default suits seated people: 10)"
    ),
) -> None:
    """Score archives of recordings on Ray: one Parquet row per face per frame, one per person per video."""
    try:
        from ferops.scale import batch as scale_batch
        import ray  # noqa: F401
    except ImportError:
        fail("ferops batch needs Ray: pip install 'ferops[scale]'")
    from ferops.registry.loading import pin
    from ferops.runtime.faces import create

    # An unknown detector is checked here: inside the Ray actors it would be a worker's traceback.
    create(detector, "video", background=False)
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file, not a folder")
    pinned, _ = pin(model_uri)  # checked before any worker starts; every actor loads this one model
    if not scale_batch.expand(sources):
        fail(f"no videos found in {' '.join(sources)}")
    result = scale_batch.run(
        sources,
        out,
        pinned,
        every=every,
        force=force,
        smooth=smooth,
        chunk_frames=chunk_frames,
        ray_address=ray_address,
        num_cpus=num_cpus,
        progress=progress,
        log=lambda line: typer.echo(line, err=True),
        detector=detector,
        memory_s=track_memory,
    )
    for f in result.failed:
        error(f"{f.video}: {f.reason}")
    if result.failed:  # the others are written; errors.parquet lists these
        raise typer.Exit(1)


@command()
def sweep(
    trials: int = typer.Option(4, min=1, help="how many trainings to draw from the search space"),
    epochs: int | None = typer.Option(None, min=1, help="train.epochs for every trial (default: params.yaml's)"),
    csv: Path | None = typer.Option(None, help="FER-2013 CSV (default: $FER2013_CSV, else params.yaml's data.csv)"),
    limit: int | None = typer.Option(None, min=0, help="rows kept per split (default: params.yaml's data.limit)"),
    params: Path = typer.Option(Path("params.yaml"), help="the params.yaml whose train section trials start from"),
    cpus_per_trial: int = typer.Option(2, min=1, help="CPUs each trial gets (and TensorFlow's threads)"),
    ray_address: str | None = typer.Option(None, help="an existing Ray cluster (default: $RAY_ADDRESS, else local)"),
    storage: str | None = typer.Option(None, help="Ray Tune's results folder or URI (default ~/ray_results)"),
    seed: int = typer.Option(0, help="seed of the random search"),
) -> None:
    """Run N trainings from a small search space with Ray Tune, each logged to MLflow; print the best as params.yaml."""
    try:
        from ferops.scale import sweep as scale_sweep
        import ray  # noqa: F401
    except ImportError:
        fail("ferops sweep needs Ray: pip install 'ferops[scale]'")
    from ferops.core import config

    if not params.is_file():
        fail(f"params file {params} not found (run from the repository root or pass --params)")
    p = config.load_params(params)
    data = csv or config.data_csv(p)
    if not Path(data).is_file():
        fail(f"training data {data} not found (pass --csv or set FER2013_CSV)")
    cfg = {**p["train"], **({"epochs": epochs} if epochs else {})}
    try:
        best = scale_sweep.run(
            Path(data),
            trials,
            cfg,
            limit=p["data"]["limit"] if limit is None else limit,
            cpus_per_trial=cpus_per_trial,
            ray_address=ray_address,
            storage=storage,
            seed=seed,
            log=lambda line: typer.echo(line, err=True),
        )
    except FerOpsError as e:  # its first line: "all trials failed" quotes a trial's whole traceback
        fail(str(e).splitlines()[0])
    typer.echo(scale_sweep.snippet(best["trial"]), nl=False)


@command()
def serve(
    model_uri: str = typer.Option(PRODUCTION_URI, help=f"the model to serve ({STAGE_URI} names the same one)"),
    port: int = typer.Option(5001, help="port on 127.0.0.1 (use --host 0.0.0.0 to expose)"),
    host: str = typer.Option("127.0.0.1"),
    workers: int = typer.Option(1, help="server worker processes (each loads the model)"),
    timeout: int = typer.Option(60, help="request timeout in seconds"),
) -> None:
    """Run `mlflow models serve` with ferops's defaults (local env, the tracking store, one worker)."""
    from ferops.core import tracking, venv
    from ferops.registry.loading import pin

    uri = tracking.use_store(create=False)
    # One line here, not the server's traceback (e.g. nothing promoted yet); an alias is served as the
    # version it names now, which is printed.
    pinned, version = pin(model_uri)
    if version is not None:
        typer.echo(f"serving {model_uri}: version {version}", err=True)
    # The server spawns uvicorn by name: venv.env puts this interpreter's bin/ first on its PATH.
    env = venv.env(MLFLOW_TRACKING_URI=uri)
    cmd = [
        venv.executable("mlflow"),
        "models",
        "serve",
        "-m",
        pinned,
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
    if os.name == "posix":
        # `ferops serve` becomes the mlflow CLI (same process id), so SIGTERM or SIGHUP for it reaches mlflow,
        # whose uvicorn child gets SIGTERM when it dies (mlflow starts it with PR_SET_PDEATHSIG). As a parent
        # waiting on mlflow, ferops died alone and left the server answering on the port.
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env)
    raise typer.Exit(subprocess.call(cmd, env=env))


@command()
def ui(
    port: int = typer.Option(5000, help="port on 127.0.0.1"),
    host: str = typer.Option("127.0.0.1"),
) -> None:
    """Run the MLflow UI over the tracking store and print the link to the ferops training runs."""
    from ferops.core import tracking, venv

    experiment = tracking.setup()
    if tracking.tracking_uri().startswith(("http://", "https://")):  # a team server has its own UI
        typer.echo(f"ferops runs: {tracking.runs_url(tracking.tracking_uri(), experiment)}")
        return
    url = tracking.runs_url(f"http://{host}:{port}", experiment)
    store = tracking.tracking_uri()
    cmd = [venv.executable("mlflow"), "ui", "--backend-store-uri", store, "--host", host, "--port", str(port)]
    typer.echo(f"ferops runs: {url}", err=True)
    raise typer.Exit(subprocess.call(cmd))


if __name__ == "__main__":
    app()
