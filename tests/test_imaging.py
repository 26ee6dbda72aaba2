import base64
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ferops.runtime.faces import crop
from ferops.runtime.imaging import InputError, decode_image, encode_png, face_to_input, image_size, pixel_batch


def test_face_to_input_any_size_and_colour():
    bgr = np.zeros((120, 90, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in OpenCV's BGR order
    out = face_to_input(bgr)
    assert out.shape == (48, 48) and out.dtype == np.uint8
    assert out[0, 0] == cv2.cvtColor(np.array([[[0, 0, 255]]], np.uint8), cv2.COLOR_BGR2GRAY)[0, 0]
    assert face_to_input(np.dstack([bgr, np.full((120, 90), 255, np.uint8)])).shape == (48, 48)
    same = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    assert face_to_input(same) is same, "48x48 grayscale passes through untouched, as training saw it"
    assert face_to_input(np.zeros((10, 12), np.uint8)).shape == (48, 48)


def test_pixel_batch_shapes_and_errors():
    assert pixel_batch(np.zeros((2, 48, 48, 1), np.uint8)).shape == (2, 48, 48)
    assert pixel_batch(np.zeros((48, 48))).shape == (1, 48, 48)
    assert pixel_batch(np.zeros((3, 2304))).shape == (3, 48, 48)
    with pytest.raises(InputError, match="expected shape"):
        pixel_batch(np.zeros((2, 32, 32)))
    with pytest.raises(InputError, match="empty batch"):
        pixel_batch(np.zeros((0, 48, 48)))
    bad = np.zeros((3, 48, 48))
    bad[2, 5, 5] = np.nan
    with pytest.raises(InputError, match="record 2 contains NaN"):
        pixel_batch(bad)
    bad[2, 5, 5] = -1
    with pytest.raises(InputError, match="record 2 has pixel values outside 0..255"):
        pixel_batch(bad)
    with pytest.raises(InputError, match="must be numbers"):
        pixel_batch([["a"] * 48] * 48)


def test_decode_png_jpeg_and_header_size():
    img = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    png = encode_png(img)
    assert np.array_equal(decode_image(png), img)
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    assert image_size(jpg) == (40, 30) and image_size(base64.b64decode(png)) == (40, 30)
    assert decode_image(jpg).shape == (30, 40, 3)


@pytest.mark.parametrize(
    "data, message",
    [
        ("@@not base64@@", "invalid base64"),
        (base64.b64encode(b"GIF89a....").decode(), "not a PNG or JPEG"),
        ("", "empty image"),
        (base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40).decode(), "over the"),
        (base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20).decode(), "not a PNG or JPEG"),
    ],
)
def test_decode_errors_name_the_record(data, message):
    with pytest.raises(InputError, match=f"record 4: .*{message}"):
        decode_image(data, where="record 4")


def test_png_with_corrupt_body():
    header = base64.b64decode(encode_png(np.zeros((8, 8), np.uint8)))[:33]
    with pytest.raises(InputError, match="corrupt"):
        decode_image(header + b"garbage" * 10)


def test_decode_limits():
    png = encode_png(np.zeros((100, 100), np.uint8))
    with pytest.raises(InputError, match="100x100 pixels is over the 5000-pixel limit"):
        decode_image(png, max_pixels=5000)
    with pytest.raises(InputError, match="larger than 50 bytes"):
        decode_image(png, max_bytes=50)


def test_crop_is_clipped_to_the_frame():
    frame = np.zeros((100, 100), np.uint8)
    assert crop(frame, (90, 90, 30, 30)).shape == (10, 10)
    assert crop(frame, (-5, -5, 20, 20)).shape == (15, 15), "never a wrapped negative slice"
    assert crop(frame, (10, 10, 20, 20), margin=0.25).shape == (30, 30)


def test_jpeg_with_more_than_64kb_of_metadata_before_its_frame_header():
    img = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    app1 = b"\xff\xe1" + (40002).to_bytes(2, "big") + b"Exif\x00\x00" + b"\x00" * 39994
    fat = jpg[:2] + app1 + app1 + jpg[2:]  # two 40 KB metadata segments: the frame header is past 80 KB
    assert len(fat) > 80_000 and image_size(fat) == (40, 30)
    assert np.array_equal(decode_image(fat), cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR))


@pytest.mark.parametrize("standalone", [b"\xff\x01", b"\xff\xd3"], ids=["TEM", "RST3"])
def test_standalone_jpeg_markers_cannot_hide_the_real_frame_header(standalone):
    # TEM and RSTn carry no length. Read as if they did, the next two bytes (an APP0 marker, 0xFFE0)
    # would skip ~64 KB, into that segment's payload, where a fake 16x16 frame header sits: the real
    # size (here 40x30, in an attack 20000x20000) would pass the pixel check and be decoded.
    img = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    payload = bytearray(65531)
    payload[65500:65511] = b"\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03\x01"
    attack = jpg[:2] + standalone + b"\xff\xe0" + (65533).to_bytes(2, "big") + bytes(payload) + jpg[2:]
    assert image_size(attack) == (40, 30)
    with pytest.raises(InputError, match="40x30 pixels is over the 1000-pixel limit"):
        decode_image(attack, max_pixels=1000)
    assert decode_image(attack).shape == (30, 40, 3)  # libjpeg skips the marker too: a valid image


def test_opencv_refuses_what_a_header_understates():
    # The backstop behind the header check: OpenCV's own limit, set by importing ferops (a child
    # process, so that cv2 is first imported after ferops, as in the server and the CLI).
    code = (
        "import numpy as np, ferops, cv2\n"
        "from ferops.runtime.imaging import InputError, decode_image\n"
        "png = cv2.imencode('.png', np.zeros((5100, 5000), np.uint8))[1].tobytes()\n"
        "try:\n"
        "    decode_image(png, max_pixels=10**9)\n"
        "except InputError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "image data is corrupt or over OpenCV's pixel limit" in out.stdout, out.stderr


def test_sixteen_bit_png_decodes_to_eight_bits():
    wide = (np.arange(64 * 80, dtype=np.uint32).reshape(64, 80) * 13 % 65536).astype(np.uint16)
    png = cv2.imencode(".png", wide)[1].tobytes()
    out = decode_image(png)
    assert out.dtype == np.uint8 and out.shape == (64, 80)
    assert np.abs(out.astype(int) - (wide >> 8).astype(int)).max() <= 1


def test_bmp_size_is_read_from_its_header_before_decoding():
    bmp = cv2.imencode(".bmp", np.zeros((30, 40, 3), np.uint8))[1].tobytes()
    assert image_size(bmp) == (40, 30) and decode_image(bmp).shape == (30, 40, 3)
    with pytest.raises(InputError, match="40x30 pixels is over the 1000-pixel limit"):
        decode_image(bmp, max_pixels=1000)
