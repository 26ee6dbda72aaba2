"""Photo files for `ferops predict`: finding them, reading them within limits, and writing annotated
copies that can never replace, or write through to, anything else.

An annotated copy keeps its image's path relative to the folder it was found in (a file named on the
command line keeps just its name); two inputs that would land on the same copy get `-2`, `-3`, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferops.core.errors import FerOpsError
from ferops.core.io import atomic_path
from ferops.runtime.imaging import MAX_IMAGE_PIXELS, InputError, decode_image, image_size

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
MAX_FILE_BYTES = 200 * 1024 * 1024  # a large camera photo or scan; the pixel limit is the real bound
# JPEG photos over MAX_IMAGE_PIXELS, up to this (200 MP: the largest phone cameras), are decoded at 1/2 or
# 1/4 size by libjpeg itself, never at full size: what is in memory stays within MAX_IMAGE_PIXELS.
MAX_PHOTO_PIXELS = 200_000_000
REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}


class AnnotateError(FerOpsError, RuntimeError):
    """An annotated copy cannot be written safely; the message names the file."""


@dataclass(frozen=True)
class ImagePath:
    path: Path  # as found (for messages and output)
    relative: Path  # its place under an annotate folder


def find_images(paths: list[Path]) -> tuple[list[ImagePath], list[str]]:
    """The images named or found (recursively) in folders, and one message per input that does not exist."""
    found, missing = [], []
    for p in paths:
        if p.is_dir():
            found += [ImagePath(q, q.relative_to(p)) for q in sorted(p.rglob("*")) if _is_image_file(q)]
        elif p.exists():
            found.append(ImagePath(p, Path(p.name)))
        else:
            missing.append(f"{p}: not found")
    return found, missing


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def read_image(image: ImagePath) -> tuple[np.ndarray, int]:
    """The image's pixels (BGR or grey, uint8) and how many original pixels one of them spans per side:
    1, or 2 or 4 for a JPEG photo over MAX_IMAGE_PIXELS read reduced. Refused like a REST record if too
    large or unreadable."""
    where = str(image.path)
    try:
        size = image.path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{where}: file of {size} bytes is over the {MAX_FILE_BYTES}-byte limit")
        data = image.path.read_bytes()
    except OSError as e:
        raise InputError(f"{where}: cannot read ({e.strerror or e})") from None
    try:
        header = image_size(data)
        if data[:2] == b"\xff\xd8" and header and header[0] * header[1] > MAX_IMAGE_PIXELS:
            return _reduced_jpeg(data, header, where)
        return decode_image(data, where=where, max_bytes=MAX_FILE_BYTES, max_pixels=MAX_IMAGE_PIXELS), 1
    except InputError as e:
        raise InputError(f"{e} (not a readable image)") from None


def _reduced_jpeg(data: bytes, size: tuple[int, int], where: str) -> tuple[np.ndarray, int]:
    width, height = size
    if width * height > MAX_PHOTO_PIXELS:
        raise InputError(f"{where}: image of {width}x{height} pixels is over the {MAX_PHOTO_PIXELS}-pixel limit")
    scale = next(s for s in REDUCED if -(-width // s) * -(-height // s) <= MAX_IMAGE_PIXELS)
    try:  # OpenCV checks the reduced size against its pixel limit (MAX_IMAGE_PIXELS): the backstop holds
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), REDUCED[scale])
    except cv2.error:
        pixels = None
    if pixels is None:
        raise InputError(f"{where}: image data is corrupt")
    return pixels, scale


def full_size(record: dict, scale: int) -> dict:
    """A face record of a photo read reduced, with its box in the photo's own pixels."""
    if scale == 1 or record.get("box") is None:
        return record
    return {**record, "box": [v * scale for v in record["box"]]}


def annotation_targets(images: list[ImagePath], folder: Path) -> dict[ImagePath, Path]:
    """Where each image's annotated copy goes under `folder`; refuses a folder that holds any input."""
    root = folder.resolve()
    for image in images:
        resolved = image.path.resolve()
        if resolved == root or root in resolved.parents:
            raise AnnotateError(
                f"annotate folder {folder} contains the input {image.path}: choose a folder outside the inputs"
            )
    targets: dict[ImagePath, Path] = {}
    taken: set[Path] = set()
    for image in images:
        target = root / image.relative
        k = 1
        while target in taken:
            k += 1
            target = root / image.relative.with_name(f"{image.relative.stem}-{k}{image.relative.suffix}")
        taken.add(target)
        targets[image] = target
    return targets


def write_image(target: Path, image: np.ndarray, folder: Path) -> None:
    """Writes `image` at `target` (under `folder`) via a temp file and a rename; never through a symlink."""
    root = folder.resolve()
    relative = target.relative_to(root)
    here = root
    for part in relative.parts:
        here = here / part
        if here.is_symlink():
            raise AnnotateError(f"{here} is a symbolic link: not writing through it")
    if target.exists() and not target.is_file():
        raise AnnotateError(f"{target} exists and is not a file")
    ok, buf = cv2.imencode(target.suffix if target.suffix.lower() in IMAGE_SUFFIXES else ".png", image)
    if not ok:
        raise AnnotateError(f"{target}: could not encode the annotated image")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            tmp.write_bytes(buf.tobytes())
    except OSError as e:
        raise AnnotateError(f"{target}: {e.strerror or e}") from None
