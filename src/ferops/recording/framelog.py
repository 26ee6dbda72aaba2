"""The crash-safe frame log: one JSON line per frame, each written whole and flushed before the next frame,
and the checks that keep an output from overwriting the recording it is made from."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TextIO

from ferops.core.errors import FerOpsError
from ferops.recording.videosource import is_camera


class OutputError(FerOpsError, RuntimeError):
    """An output (log, annotated video) cannot be written, or would overwrite the source."""


def check_outputs(spec: str, *outputs: Path | None) -> None:
    """Refuses an output path that is the source recording (or another output): it would be overwritten."""
    paths = [Path(o) for o in outputs if o is not None]
    source = Path(spec) if not is_camera(spec) and "://" not in spec else None
    for k, out in enumerate(paths):
        if source is not None and _same_file(out, source):
            raise OutputError(f"{out} is the source recording {spec}: refusing to overwrite it, choose another path")
        for other in paths[:k]:
            if _same_file(out, other):
                raise OutputError(
                    f"{out} is given as two outputs (--output, --log, --markers): choose one path for each"
                )


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_log_folder(path: Path) -> None:
    """The cheap checks, before anything slow: the log is not a folder and its folder exists."""
    if path.is_dir():
        raise OutputError(f"cannot write the log {path}: it is a folder")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write the log {path}: folder {path.parent} does not exist")


def open_log(path: Path) -> io.FileIO:
    """The log file, opened for writing, or one clear OutputError saying why it cannot be.

    Unbuffered: each record is one write call, so a failed write (a full disk) leaves nothing pending
    that a later flush or close could half-write."""
    check_log_folder(path)
    try:
        return io.FileIO(path, "w")
    except OSError as e:
        raise OutputError(f"cannot write the log {path}: {e.strerror}") from None


def write_record(log: TextIO | io.RawIOBase, record: dict) -> None:
    """One complete line, flushed; on a failed write (a full disk) the partial line is cut off again."""
    line = json.dumps(record, allow_nan=False) + "\n"
    try:
        pos = log.tell()
    except OSError:
        pos = None
    try:
        if isinstance(log, io.RawIOBase):
            data = memoryview(line.encode())
            while data:
                data = data[log.write(data) :]
        else:
            log.write(line)
            log.flush()
    except OSError as e:
        if pos is not None:
            try:
                log.truncate(pos)
            except OSError:
                pass
        raise OutputError(f"cannot write the log {getattr(log, 'name', '')}: {e.strerror}") from None
