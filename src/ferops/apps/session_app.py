"""`ferops app`: run and review therapy sessions in a browser, on the machine that has the camera.

Starlette/FastAPI + uvicorn, bound to 127.0.0.1 unless told otherwise (then every request needs the
access token printed at start). One page (static/app.html) starts a session from a camera, a stream
URL or a recorded file (path or upload), shows it live, stops it, and lists the library; the review
page of a session is rendered here from its log through `ferops.apps.report` (per person, via
`ferops.recording.summary`), so it reads exactly like `ferops report`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import html
import json
import os
import secrets
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ferops.apps import history, markers, people_page, privacy, report, responses, sessions
from ferops.recording import videosource
from ferops.recording import people
from ferops.apps.session_runner import SessionRunner
from ferops.runtime.video import VIDEO_SUFFIXES

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"
TOKEN_COOKIE = "ferops_token"
# An upload is refused (413) above this size, and (507) where it would leave less than the reserve free
# on the sessions folder's disk (the session's log and metadata are written there next).
MAX_UPLOAD_BYTES = 32 * 2**30
FREE_RESERVE_BYTES = 256 * 2**20


def source_key(spec: str) -> str:
    """Two sessions on one camera or stream would fight over it: this names the device."""
    if videosource.is_camera(spec):  # "00" is camera 0; a number too long for int() is refused by open_source
        return f"camera {int(spec) if len(spec) <= 100 else spec}"
    return spec if "://" in spec else str(Path(spec).resolve())


def create_app(root: Path, classifier, model_uri: str, model_version: str | None, detector_factory,
               token: str | None = None, memory_s: float | None = None,
               window_s: float = responses.WINDOW_S, keep_days: float | None = None) -> FastAPI:
    """root: the sessions folder. detector_factory() -> a new face detector (one per session thread).
    keep_days: sessions older than this are deleted at start and daily (None: kept until deleted)."""
    runners: dict[str, SessionRunner] = {}
    sessions.recover(root)  # what a killed app left: sessions marked running, half-written files

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        stop_daily = threading.Event()
        if keep_days is not None:
            threading.Thread(target=privacy.every_day, args=(expire, stop_daily, privacy.DAY_S), kwargs={"now": False},
                             daemon=True, name="retention").start()
        yield
        stop_daily.set()
        # Shutdown (Ctrl-C, SIGTERM): every running session finishes its log, video and session.json
        # before the process ends (uvicorn re-raises the signal right after this).
        for runner in runners.values():
            runner.stop()
        for runner in runners.values():
            await run_in_threadpool(runner.join, 30)

    app = FastAPI(title="ferops sessions", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    starting = threading.Lock()  # check-then-claim a camera atomically

    @app.middleware("http")
    async def same_page_only(request: Request, call_next):
        """Changes come from this app's own pages: a custom header that no other web page can send
        without the browser asking first (CORS), so a site visited meanwhile cannot start the camera."""
        if request.method not in ("GET", "HEAD") and request.headers.get("x-requested-with") != "ferops":
            return JSONResponse({"detail": "changes need the X-Requested-With: ferops header"}, status_code=403)
        return await call_next(request)

    if token is None:  # bound to this computer: refuse other Host names (DNS rebinding)
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]", "::1"])
    else:

        @app.middleware("http")
        async def require_token(request: Request, call_next):
            given = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
            if not given or not secrets.compare_digest(given, token):
                return JSONResponse({"detail": "access token missing or wrong: use the address printed at start"},
                                    status_code=401)
            response = await call_next(request)
            if request.query_params.get("token"):
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response

    def folder_of(session_id: str) -> Path:
        try:
            return sessions.session_dir(root, session_id)
        except sessions.LibraryError as e:
            raise HTTPException(404, str(e)) from None

    def begin(spec: str, name: str, save_video: bool, source_label: str, recording: Path | None = None) -> dict:
        """Opens the source, claims it, creates the session folder and starts the runner; all or nothing."""
        key = source_key(spec)
        with starting:
            busy = [sid for sid, r in runners.items() if r.running and source_key(r.source.spec) == key]
            if busy and not Path(spec).is_file():
                raise HTTPException(409, f"{key} is already in use by session {busy[0]}: stop that one first")
            try:
                src = videosource.open_source(spec)
            except videosource.SourceError as e:
                raise HTTPException(400, str(e)) from None
            detector = detector_factory()
            meta = {
                "id": sessions.new_id(),
                "name": name.strip() or f"Session {datetime.now().strftime('%Y-%m-%d %H:%M')}",
                "source": source_label,
                "source_kind": src.kind,
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
                "duration_s": None,
                "frames": 0,
                "state": "running",
                "error": None,
                "model_uri": model_uri,
                "model_version": model_version,
                "detector": getattr(detector, "name", type(detector).__name__),
                "recording": None,
                "annotated_video": None,
                "names": {},
                "app_pid": os.getpid(),  # this session runs while this process does (sessions.recover)
            }
            try:
                folder = sessions.create(root, meta)
                if recording is not None:
                    target = folder / f"recording{recording.suffix.lower()}"
                    os.replace(recording, target)
                    src.spec = str(target)
                    meta = sessions.update_meta(folder, recording=target.name)
                elif src.kind == "file":
                    meta = sessions.update_meta(folder, recording=str(Path(spec).resolve()))
            except (sessions.LibraryError, OSError) as e:
                src.capture.release()
                raise HTTPException(500, str(e) if isinstance(e, sessions.LibraryError)
                                    else f"cannot write to the sessions folder {root}: {e.strerror}") from None
            runners[meta["id"]] = SessionRunner(folder, src, detector, classifier, save_video, warm,
                                              memory_s).start()
        return meta

    @app.get("/", response_class=HTMLResponse)
    def index():
        page = (STATIC / "app.html").read_text()
        return page.replace("{{SESSIONS_DIR}}", html.escape(str(root.resolve()))).replace(
            "{{RETENTION}}", html.escape(privacy.retention_note(keep_days)))

    @app.get("/api/sessions")
    def list_all():
        out = sessions.list_sessions(root)
        for m in out:
            if m.get("id") in runners and runners[m["id"]].running:
                m["state"] = "running"
        return out

    @app.post("/api/sessions")
    async def start(request: Request):
        try:
            body = await request.json()
            spec = str(body["source"]).strip()
        except (ValueError, KeyError, TypeError):
            raise HTTPException(400, 'send JSON {"source": camera index, stream URL or video file path}') from None
        if not spec:
            raise HTTPException(400, "no source given: a camera index (0), a stream URL or a video file path")
        return await run_in_threadpool(begin, spec, str(body.get("name") or ""), bool(body.get("save_video")), spec)

    @app.post("/api/upload")
    async def upload(request: Request, filename: str = "recording.mp4", name: str = "", save_video: bool = False):
        suffix = Path(filename).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            known = ", ".join(sorted(VIDEO_SUFFIXES))
            raise HTTPException(400, f"{filename} is not a video file (expected one of {known})")
        declared = request.headers.get("content-length")
        declared = int(declared) if declared and declared.isdecimal() else None
        if declared is not None and declared > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"{filename} is {_size(declared)}: uploads are limited to "
                                f"{_size(MAX_UPLOAD_BYTES)}")
        tmp = root / f".upload-{os.getpid()}-{secrets.token_hex(4)}{suffix}"
        try:  # whatever stops the upload (a full disk, the browser gone, an error), no partial file stays
            try:
                root.mkdir(parents=True, exist_ok=True)
                free = shutil.disk_usage(root).free
            except OSError as e:
                raise HTTPException(500, f"cannot write to the sessions folder {root}: {e.strerror}") from None
            if declared is not None and declared + FREE_RESERVE_BYTES > free:
                raise HTTPException(507, f"not enough free disk space for {filename} ({_size(declared)}) in the "
                                    f"sessions folder {root}: {_size(free)} free")
            size = 0
            try:
                with open(tmp, "wb") as f:
                    async for chunk in request.stream():
                        size += len(chunk)
                        if size > MAX_UPLOAD_BYTES:
                            raise HTTPException(413, f"{filename} is larger than the upload limit of "
                                                f"{_size(MAX_UPLOAD_BYTES)}")
                        f.write(chunk)
            except ClientDisconnect:
                raise HTTPException(400, f"the upload of {filename} was interrupted (the browser disconnected)") \
                    from None
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    raise HTTPException(507, f"the disk of the sessions folder {root} is full: {filename} was not "
                                        "stored") from None
                raise HTTPException(500, f"cannot write to the sessions folder {root}: {e.strerror}") from None
            if size == 0:
                raise HTTPException(400, f"the upload of {filename} is empty")
            try:
                meta = await run_in_threadpool(begin, str(tmp), name or Path(filename).stem, save_video,
                                               f"upload: {filename}", tmp)
            except HTTPException as e:
                if e.status_code == 400:
                    e.detail = f"{filename} is not a readable video"
                raise
        finally:
            tmp.unlink(missing_ok=True)
        return meta

    @app.get("/api/sessions/{session_id}")
    def one(session_id: str):
        meta = sessions.read_meta(folder_of(session_id))
        runner = runners.get(session_id)
        return {**meta, "live": runner.live_state() if runner else None}

    @app.post("/api/sessions/{session_id}/stop")
    def stop(session_id: str):
        folder_of(session_id)
        runner = runners.get(session_id)
        if runner is None or not runner.running:
            raise HTTPException(409, "this session is not running")
        runner.stop()
        runner.join(timeout=10)
        return sessions.read_meta(folder_of(session_id))

    @app.patch("/api/sessions/{session_id}")
    async def rename(session_id: str, request: Request):
        """{name}: the session's; {names: {track id: name or null}}: people's. Tracks given one name are one
        person; null removes a track's name (un-merges it). All or nothing: one bad entry changes nothing."""
        folder = folder_of(session_id)
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "send JSON {name} or {names: {track: name}}") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "send JSON {name} or {names: {track: name}}")
        changes = {}
        if "name" in body:
            if not str(body["name"]).strip():
                raise HTTPException(400, "a session needs a name")
            changes["name"] = str(body["name"]).strip()[:200]
        if "names" in body:
            try:
                given = people.check_names(body["names"], await run_in_threadpool(tracks_of, folder), True)
            except people.NamesError as e:
                raise HTTPException(400, str(e)) from None
            names = {**sessions.read_meta(folder).get("names", {}), **given}
            changes["names"] = {k: v for k, v in sorted(names.items(), key=lambda kv: int(kv[0])) if v}
        try:
            return sessions.update_meta(folder, **changes)
        except OSError as e:
            raise HTTPException(500, f"cannot write to the sessions folder {root}: {e.strerror}") from None

    @app.delete("/api/sessions/{session_id}")
    def remove(session_id: str, confirm: str = ""):
        folder = folder_of(session_id)
        if confirm != session_id:
            raise HTTPException(400, "deleting needs confirmation: pass confirm=<session id>")
        runner = runners.get(session_id)
        if runner is not None and runner.running:
            raise HTTPException(409, "stop the session before deleting it")
        with markers.session_lock(folder):  # no marker is written into a folder being deleted
            sessions.delete(root, session_id)
        runners.pop(session_id, None)
        return {"deleted": session_id}

    def span_of(session_id: str, folder: Path) -> tuple[float, float | None]:
        """The time span a marker must fall in: the recording so far while it runs, else the whole log."""
        runner = runners.get(session_id)
        if runner is not None and runner.running:
            start = runner.first_t or 0.0
            return start, max(runner.t - start, 0.0)
        try:
            return report.recording_span(current_log(folder)[1].records)
        except HTTPException:
            return 0.0, 0.0  # no frame yet: only a marker at the very start

    async def marker_body(request: Request) -> dict:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise HTTPException(400, 'send JSON {"t": seconds, "note": "...", "end": seconds or null}')
        return body

    def change_markers(session_id: str, change) -> list[dict]:
        folder = folder_of(session_id)
        try:
            return markers.edit(folder, change)
        except markers.NoSuchMarker as e:
            raise HTTPException(404, str(e)) from None
        except markers.MarkerError as e:
            raise HTTPException(400, str(e)) from None
        except OSError as e:
            if not folder.is_dir():
                raise HTTPException(404, "this session no longer exists (deleted meanwhile)") from None
            raise HTTPException(500, f"cannot write to the sessions folder {root}: {e.strerror}") from None

    @app.get("/api/sessions/{session_id}/markers")
    def list_markers(session_id: str):
        try:
            return markers.read(folder_of(session_id) / markers.FILE)
        except markers.MarkerError as e:
            raise HTTPException(500, f"{markers.FILE} of this session: {e}") from None

    @app.post("/api/sessions/{session_id}/markers", status_code=201)
    async def add_marker(session_id: str, request: Request):
        """{t, note, end}; without t, the current moment of a running session (the live page's button)."""
        body = await marker_body(request)
        folder = folder_of(session_id)
        start, duration = await run_in_threadpool(span_of, session_id, folder)
        runner = runners.get(session_id)
        if "t" not in body:
            if runner is None or not runner.running:
                raise HTTPException(400, "give the marker's time t (seconds of the recording): the session is "
                                    "not running")
            body = {**body, "t": start + duration}
        try:
            marker = {"id": markers.new_id(), **markers.check(body, duration, start)}
        except markers.MarkerError as e:
            raise HTTPException(400, str(e)) from None
        await run_in_threadpool(change_markers, session_id, lambda ms: [*ms, marker])
        return marker

    @app.patch("/api/sessions/{session_id}/markers/{marker_id}")
    async def edit_marker(session_id: str, marker_id: str, request: Request):
        body = await marker_body(request)
        folder = folder_of(session_id)
        start, duration = await run_in_threadpool(span_of, session_id, folder)
        done = {}

        def change(ms: list[dict]) -> list[dict]:
            old = markers.find(ms, marker_id)
            done["marker"] = {"id": marker_id, **markers.check({**old, **body, "id": marker_id}, duration, start)}
            return [done["marker"] if m["id"] == marker_id else m for m in ms]

        await run_in_threadpool(change_markers, session_id, change)
        return done["marker"]

    @app.delete("/api/sessions/{session_id}/markers/{marker_id}")
    def delete_marker(session_id: str, marker_id: str):
        def change(ms: list[dict]) -> list[dict]:
            markers.find(ms, marker_id)
            return [m for m in ms if m["id"] != marker_id]

        change_markers(session_id, change)
        return {"deleted": marker_id}

    @app.get("/sessions/{session_id}/live.mjpg")
    def live_video(session_id: str):
        folder_of(session_id)
        runner = runners.get(session_id)
        if runner is None:
            raise HTTPException(404, "this session is not running")
        from ferops.apps.live_page import BOUNDARY

        return StreamingResponse(runner.hub.multipart(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store"})

    @functools.lru_cache(maxsize=4)
    def log_of(log_path: str, _mtime_ns: int, _size: int) -> report.SessionLog:
        """An hour's log (90k lines) takes seconds to read: once per version of the file."""
        return report.read_log(Path(log_path))

    @functools.lru_cache(maxsize=16)
    def summary_of(log_path: str, mtime_ns: int, size: int, names_json: str, markers_json: str) -> dict:
        return report.session_summary(log_of(log_path, mtime_ns, size).records, names=json.loads(names_json),
                                      markers=json.loads(markers_json), window_s=window_s)

    def current_log(folder: Path) -> tuple[tuple, report.SessionLog]:
        path = folder / sessions.LOG
        try:
            stat = path.stat()
            version = (str(path), stat.st_mtime_ns, stat.st_size)
            return version, log_of(*version)
        except (OSError, report.ReportError) as e:
            raise HTTPException(409, f"nothing to review yet: {e}") from None

    def tracks_of(folder: Path) -> set[int]:
        """The track ids the session's log holds so far (none before its first frame)."""
        try:
            return report.log_tracks(current_log(folder)[1].records)
        except HTTPException:
            return set()

    def warm(folder: Path) -> None:
        """Called by a session's thread as it ends: the review opens at once afterwards."""
        try:
            review_data(folder.name)
        except HTTPException:
            pass  # the review page will say what is wrong

    def review_data(session_id: str) -> tuple[dict, dict, report.SessionLog]:
        folder = folder_of(session_id)
        version, log = current_log(folder)
        meta = sessions.read_meta(folder)
        names = json.dumps(meta.get("names") or {}, sort_keys=True)
        try:
            marks = json.dumps(markers.read(folder / markers.FILE))
        except markers.MarkerError as e:
            raise HTTPException(500, f"{markers.FILE} of this session: {e}") from None
        return meta, summary_of(*version, names, marks), log

    @app.get("/sessions/{session_id}/video")
    def video(session_id: str):
        folder = folder_of(session_id)
        meta = sessions.read_meta(folder)
        if meta.get("annotated_video") and (folder / meta["annotated_video"]).is_file():
            return FileResponse(folder / meta["annotated_video"])
        rec = meta.get("recording")
        path = (folder / rec) if rec and not Path(rec).is_absolute() else Path(rec) if rec else None
        if path is None or not path.is_file():
            raise HTTPException(404, "no video for this session (live sources are not recorded unless asked)")
        return FileResponse(path)

    @app.get("/sessions/{session_id}", response_class=HTMLResponse)
    def review(session_id: str):
        meta, summary, log = review_data(session_id)
        return review_page(meta, summary, log.warnings)

    @app.get("/sessions/{session_id}/export.json")
    def export_json(session_id: str):
        meta, summary, log = review_data(session_id)
        records = sessions.with_people(log.records, summary["tracks"])
        body = json.dumps({"session": meta, "summary": summary, "records": records}, indent=1)
        return Response(body, media_type="application/json", headers=_download(meta, "json"))

    @app.get("/sessions/{session_id}/export.csv")
    def export_csv(session_id: str):
        meta, summary, log = review_data(session_id)
        return Response(sessions.records_csv(log.records, summary["tracks"], markers=summary["markers"]),
                        media_type="text/csv", headers=_download(meta, "csv"))

    @app.get("/sessions/{session_id}/responses.csv")
    def export_responses(session_id: str):
        meta, summary, _ = review_data(session_id)
        return Response(sessions.responses_csv(summary), media_type="text/csv",
                        headers=_download({**meta, "name": f"{meta['name']} responses"}, "csv"))

    @app.get("/sessions/{session_id}/report.html")
    def export_report(session_id: str):
        meta, summary, log = review_data(session_id)
        page = report.render_html(f"Session report: {meta['name']}", summary, log.warnings)
        return Response(page, media_type="text/html", headers=_download(meta, "html"))

    def running_ids() -> set[str]:
        return {sid for sid, r in runners.items() if r.running}

    def everyone() -> tuple[dict, list]:
        """Every named person, each session summarised as its review (cached per log version)."""
        def summarise(folder: Path) -> tuple[dict, dict]:
            try:
                meta, summary, _ = review_data(folder.name)
            except HTTPException as e:
                raise ValueError(e.detail) from None
            return meta, summary

        return history.collect(root, summarise)

    @app.get("/people", response_class=HTMLResponse)
    def people_view():
        found, skipped = everyone()
        return people_page.page(found, skipped, privacy.retention_note(keep_days), render)

    @app.get("/api/people")
    def people_list():
        found, skipped = everyone()
        return {"people": list(found.values()), "skipped": [{"id": i, "reason": r} for i, r in skipped]}

    @app.get("/api/people/{name}")
    def person(name: str):
        try:
            entry = history.one(everyone()[0], name)
        except history.HistoryError as e:
            raise HTTPException(404, str(e)) from None
        return {**entry, "erase": privacy.preview(root, name)}

    @app.delete("/api/people/{name}")
    def erase_person(name: str, confirm: str = ""):
        """Removes the person from every session (apps.privacy.erase); confirm=<the name> as typed here."""
        if confirm != name:
            raise HTTPException(400, "erasing a person needs confirmation: pass confirm=<the same name>")
        if not any(people.key(name) == people.key(n) for m in sessions.list_sessions(root)
                   for n in (m.get("names") or {}).values() if isinstance(n, str)):
            raise HTTPException(404, f"no person named {name!r} in any session")
        if running_ids():
            raise HTTPException(409, "a session is running: stop it before erasing a person (its log is being "
                                "written)")
        try:
            return privacy.erase(root, name)
        except (OSError, ValueError) as e:
            raise HTTPException(500, f"erasing {name!r} stopped part way: {e}; run it again to finish") from None

    def expire() -> None:
        try:
            gone = privacy.delete_expired(root, keep_days, running_ids())
        except OSError:
            return  # the folder unreadable for now: the next daily pass tries again
        for sid in gone:
            runners.pop(sid, None)

    if keep_days is not None:
        expire()  # at start; then daily, from the app's lifespan
    app.state.runners = runners
    return app


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} bytes"


def _download(meta: dict, ext: str) -> dict:
    """The file name of a download, in any script: the name's letters and digits (RFC 5987/6266 filename*,
    UTF-8), and an ASCII filename= for old clients (accents dropped; the session id where nothing is left)."""
    import unicodedata
    from urllib.parse import quote

    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(meta["name"]))[:60]
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    sid = "".join(c for c in str(meta.get("id")) if c.isascii() and (c.isalnum() or c in "-_")) or "session"
    ascii_name = plain if any(c.isalnum() for c in plain) else sid
    full = name if any(c.isalnum() for c in name) else sid
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}.{ext}\"; "
                                   f"filename*=UTF-8''{quote(f'{full}.{ext}', safe='')}"}


def _naming(summary: dict) -> str:
    """The two small tables of the review that make people out of tracks: rename a person (all her
    tracks at once); give each track a person's name (one name on two tracks joins them)."""
    e = html.escape
    options = "".join(f'<option value="{e(p)}">' for p, s in summary["people"].items() if s.get("name"))
    persons = "".join(
        f'<tr><td>{e(p)}</td><td>{", ".join(str(t) for t in s["tracks"])}</td><td><input class="pname" '
        f'data-tracks="{",".join(str(t) for t in s["tracks"])}" value="{e(s.get("name") or "")}" '
        f'placeholder="name" maxlength="{people.MAX_NAME}"> <button class="rename">Rename</button></td></tr>'
        for p, s in summary["people"].items()
    )
    tracks = "".join(
        f'<tr><td>{e(t)}</td><td>{report.fmt_t(summary["track_spans"][t][0])}&ndash;'
        f'{report.fmt_t(summary["track_spans"][t][1])}</td><td><input class="tname" data-track="{e(t)}" '
        f'value="{e(p if summary["people"][p].get("name") else "")}" placeholder="name" list="names" '
        f'maxlength="{people.MAX_NAME}"></td></tr>'
        for t, p in summary["tracks"].items()
    )
    return (
        f'<datalist id="names">{options}</datalist>'
        "<h2>People</h2><p><small>A <em>track</em> is one stretch in which the camera followed a face; a "
        "<em>person</em> is one or more tracks. The same name on two tracks makes them one person (someone "
        "who left and came back); clearing a name separates a track again. The recording's log is never "
        "changed, only these names.</small></p>"
        f'<table id="people"><tr><th>person</th><th>tracks</th><th>name</th></tr>{persons}</table>'
        f'<details id="tracks"><summary>Tracks</summary><table><tr><th>track</th><th>seen</th><th>person'
        f'</th></tr>{tracks}</table><button id="savenames">Save names</button></details>'
        '<p id="msg" class="warning"></p>'
    )


def render(template: str, **pieces: str) -> str:
    """A page from templates/: each {{key}} replaced by its piece, which is HTML (escape text before)."""
    import re

    # One pass: a piece that holds "{{...}}" (a note typed so) is never filled in again.
    return re.sub(r"\{\{(\w+)\}\}", lambda m: pieces[m.group(1)], (TEMPLATES / template).read_text())


def _marker_rows(summary: dict) -> str:
    e = html.escape
    return "".join(
        f'<tr class="marker" data-id="{e(m["id"])}"><td><input class="t time" value="{report.fmt_t(m["t"])}"></td>'
        f'<td><input class="end time" value="{report.fmt_t(m["end"]) if m.get("end") is not None else ""}" '
        f'placeholder="(none)"></td><td><input class="note" value="{e(m["note"])}" maxlength="{markers.MAX_NOTE}">'
        '</td><td><button class="save">Save</button> <button class="delete">Delete</button></td></tr>'
        for m in summary.get("markers") or []
    )


def review_page(meta: dict, summary: dict, warnings: list[str]) -> str:
    """The report's body plus what only a live page can do: play and seek the recording, mark moments, name
    people."""
    e = html.escape
    sid = e(meta["id"])
    has_video = bool(meta.get("annotated_video") or meta.get("recording"))
    video = (
        f'<video id="video" src="/sessions/{sid}/video" controls preload="metadata" width="640"></video>'
        "<p><small>Click a timeline to jump to that moment of the recording.</small></p>"
        if has_video
        else "<p><small>No video is kept for this session (live source, annotated video not saved).</small></p>"
    )
    return render(
        "review.html",
        title=e(meta["name"]),
        style=report.STYLE,
        sid=sid,
        state=e(str(meta.get("state"))),
        source=e(str(meta.get("source"))),
        model_uri=e(str(meta.get("model_uri"))),
        model_version=e(str(meta.get("model_version"))),
        detector=e(str(meta.get("detector"))),
        error=f'<p class="warning">{e(meta["error"])}</p>' if meta.get("error") else "",
        video=video,
        max_note=str(markers.MAX_NOTE),
        marker_rows=_marker_rows(summary),
        naming=_naming(summary),
        body=report.report_body(meta["name"], summary, warnings),
    )


def serve(root: Path, host: str, port: int, model_uri: str, classifier, model_version, detector_factory,
          on_ready=None, memory_s: float | None = None, window_s: float = responses.WINDOW_S,
          keep_days: float | None = None) -> None:
    """Runs the app until Ctrl-C / SIGTERM; running sessions are stopped and their files finished first
    (the app's lifespan), then uvicorn ends the process by the same signal."""
    import uvicorn

    token = None if host in ("127.0.0.1", "localhost", "::1") else secrets.token_urlsafe(16)
    app = create_app(root, classifier, model_uri, model_version, detector_factory, token, memory_s, window_s,
                     keep_days)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/" + (f"?token={token}" if token else "")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))

    def announce() -> None:  # once the port answers, not before: a browser opened early shows an error
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started and on_ready:
            on_ready(url)

    threading.Thread(target=announce, daemon=True).start()
    server.run()
