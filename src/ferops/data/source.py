"""Where FER-2013 comes from and how it enters the pipeline: the one place that says so.

DVC tracks the CSV at params.yaml's data.csv (data/raw/fer2013.csv.gz): it is the `data` stage's
output, pushed to and pulled from the team remote like any other, and the only file ingest reads.
`locate` puts the CSV there, from $FER2013_CSV or a known location, so that the data DVC records
is always the data ingested.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from ferops.core.errors import FerOpsError

DOWNLOAD_URL = "https://www.kaggle.com/datasets/deadskull7/fer2013"
# Looked at in this order when the tracked path is empty and FER2013_CSV is not set.
KNOWN_LOCATIONS = (Path("data/raw/fer2013.csv"), Path("../shared/data/fer2013.csv.gz"))
DVC_CACHE = Path(".dvc/cache/files/md5")


class DataError(FerOpsError, ValueError):
    pass


def how_to_get(tracked: Path | str) -> str:
    return (
        f"download fer2013.csv (columns emotion,pixels,Usage) from Kaggle, {DOWNLOAD_URL}, and put it at "
        f"{tracked}, or set FER2013_CSV=/path/to/fer2013.csv[.gz] and run `make data`; the image-folder "
        "release of FER-2013 (train/<emotion>/*.jpg) cannot be ingested, it has no PublicTest/PrivateTest split"
    )


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    return a.stat().st_size == b.stat().st_size and _md5(a) == _md5(b)


def _in_dvc_cache(path: Path) -> bool:
    """A file DVC already holds a copy of (`dvc checkout` brings it back), so replacing it loses nothing."""
    digest = _md5(path)
    return (DVC_CACHE / digest[:2] / digest[2:]).is_file()


def _link(tracked: Path, source: Path) -> None:
    tracked.parent.mkdir(parents=True, exist_ok=True)
    tmp = tracked.with_name(f".{tracked.name}.link")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(source.resolve())
    os.replace(tmp, tracked)  # atomic: the tracked path is never missing or half-made


def locate(tracked: Path, env: Mapping[str, str] = os.environ) -> str:
    """Make `tracked` hold FER-2013 (linking $FER2013_CSV or a known copy there); returns what was done.

    Raises DataError, saying how to get the data, when there is none, and refuses to replace a file at
    `tracked` that DVC has no copy of.
    """
    wanted = env.get("FER2013_CSV")
    if wanted:
        source = Path(wanted)
        if not source.is_file():
            raise DataError(f"FER2013_CSV={wanted} is not a file; {how_to_get(tracked)}")
        if tracked.is_file() and _same(tracked, source):
            return f"data: {tracked} holds FER2013_CSV={source}"
        if tracked.is_symlink() or not tracked.exists() or _in_dvc_cache(tracked):
            if tracked.is_symlink():
                note = f" (was -> {os.readlink(tracked)})"
            else:
                note = " (replacing DVC's copy of the previous data)" if tracked.exists() else ""
            _link(tracked, source)
            return f"data: linked {tracked} -> {source}{note}"
        raise DataError(
            f"{tracked} holds other data than FER2013_CSV={source} and DVC has no copy of it: move it away "
            f"to use {source}, or unset FER2013_CSV to keep it"
        )
    if tracked.is_file():
        return f"data: using {tracked}"
    for known in KNOWN_LOCATIONS:
        if known.is_file() and known.resolve() != tracked.resolve():
            _link(tracked, known)
            return f"data: linked {tracked} -> {known}"
    raise DataError(f"FER-2013 not found at {tracked}: {how_to_get(tracked)}")
