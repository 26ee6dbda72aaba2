"""The one preprocessing path: any image or face crop -> what the model was trained on.

FER-2013 faces are 48x48 grayscale crops with pixel values 0..255; every caller (training,
the pyfunc, the webcam app, the REST endpoint) gets its model inputs from here. Rescaling to
0..1 happens inside the Keras model itself.
"""

from __future__ import annotations

import base64
import binascii

import cv2
import numpy as np

from ferops import MAX_IMAGE_PIXELS
from ferops.core.errors import FerOpsError
from ferops.core.fer2013 import IMAGE_SIZE

MAX_IMAGE_BYTES = 10 * 1024 * 1024


class InputError(FerOpsError, ValueError):
    """One input record cannot be used; the message names the problem and the record."""


def to_gray(image: np.ndarray) -> np.ndarray:
    """BGR, BGRA or grayscale (OpenCV's channel order) -> 2-D uint8 grayscale."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        gray = image
    elif image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 4:
        gray = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    else:
        raise InputError(f"expected a grayscale, BGR or BGRA image, got shape {image.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return gray


def face_to_input(face: np.ndarray) -> np.ndarray:
    """A face crop of any size or colour -> (48, 48) uint8, as FER-2013's faces are."""
    gray = to_gray(face)
    if gray.shape[0] < 1 or gray.shape[1] < 1:
        raise InputError(f"empty face crop of shape {gray.shape}")
    if gray.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return gray
    shrink = gray.shape[0] > IMAGE_SIZE or gray.shape[1] > IMAGE_SIZE
    return cv2.resize(gray, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def pixel_batch(values, where: str = "input") -> np.ndarray:
    """Raw pixel values 0..255, shape (N,48,48), (N,48,48,1), (48,48) or (N,2304) -> (N,48,48) float32."""
    try:
        arr = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as e:
        # The first line of numpy's reason, cut short: it can quote a whole base64 image sent by mistake.
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        reason = reason if len(reason) <= 80 else reason[:77] + "..."
        raise InputError(f"{where}: pixel values must be numbers in 0..255 ({reason})") from None
    if arr.ndim == 2 and arr.shape == (IMAGE_SIZE, IMAGE_SIZE):
        arr = arr[None]
    elif arr.ndim == 2 and arr.shape[1] == IMAGE_SIZE * IMAGE_SIZE:
        arr = arr.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    elif arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3 or arr.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise InputError(f"{where}: expected shape (N, 48, 48) or (N, 48, 48, 1), got {tuple(arr.shape)}")
    if len(arr) == 0:
        raise InputError(f"{where}: empty batch")
    finite = np.isfinite(arr).all(axis=(1, 2))
    if not finite.all():
        raise InputError(f"{where}: record {int(np.argmin(finite))} contains NaN or infinity")
    in_range = ((arr >= 0) & (arr <= 255)).all(axis=(1, 2))
    if not in_range.all():
        raise InputError(f"{where}: record {int(np.argmin(in_range))} has pixel values outside 0..255")
    return arr


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header without decoding its pixels; None if not a known format.

    PNG and JPEG are read here (a JPEG's metadata segments before its frame header are skipped by
    their lengths, however large); BMP, WebP and TIFF through Pillow's header-only open.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(memoryview(data))
    if data[:2] in (b"BM", b"II", b"MM") or data[8:12] == b"WEBP":
        return _other_size(data)
    return None


def _jpeg_size(data: memoryview) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM and RSTn stand alone: no length follows
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    return None


def _other_size(data: bytes) -> tuple[int, int] | None:
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning: the caller applies its limit
            with Image.open(io.BytesIO(data), formats=["BMP", "WEBP", "TIFF"]) as im:
                return im.size
    except Exception:  # noqa: BLE001 -- any unreadable header is "not a known image"
        return None


def decode_image(
    data: bytes | str, where: str = "image", max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Base64 text or raw bytes of a PNG, JPEG, BMP, WebP or TIFF -> OpenCV image (BGR or grayscale, uint8).

    Size-checked from the header first; decoded straight to 8 bits (a 16-bit PNG never exists as a
    full-size 16-bit or float array), so memory stays within a few bytes per pixel of the limit.
    """
    if isinstance(data, str):
        if len(data) > max_bytes * 4 // 3 + 4:
            raise InputError(f"{where}: image is larger than {max_bytes} bytes")
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{where}: invalid base64") from None
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise InputError(f"{where}: empty image")
    if len(data) > max_bytes:
        raise InputError(f"{where}: image is larger than {max_bytes} bytes")
    size = image_size(bytes(data))
    if size is None:
        raise InputError(f"{where}: not a PNG or JPEG image (nor BMP, WebP, TIFF)")
    if size[0] * size[1] > max_pixels or 0 in size:
        raise InputError(f"{where}: image of {size[0]}x{size[1]} pixels is over the {max_pixels}-pixel limit")
    # IMREAD_ANYCOLOR without IMREAD_ANYDEPTH: grey stays 1 channel, colour is BGR, every depth becomes 8 bits.
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYCOLOR)
    except cv2.error:  # OpenCV's own checks, e.g. its pixel limit where a header understates the size
        raise InputError(f"{where}: image data is corrupt or over OpenCV's pixel limit") from None
    if image is None:
        raise InputError(f"{where}: image data is corrupt")
    return image


def encode_png(image: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise InputError("could not encode image as PNG")
    return base64.b64encode(buf.tobytes()).decode("ascii")
