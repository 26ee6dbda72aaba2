"""`ferops predict`: never writes over or through anything, reports every failure, exits non-zero then."""

import json
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ferops.apps.cli import app
from ferops.runtime.imaging import MAX_IMAGE_PIXELS


@pytest.fixture
def cli(registered_model, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model[0])
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["predict", *map(str, args)])


def photo(path, value: int, size=(60, 80)):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    return path


def test_annotate_into_the_input_folder_is_refused_and_inputs_untouched(cli, tmp_path):
    a = photo(tmp_path / "in" / "a.png", 100)
    before = a.read_bytes()
    for folder in (tmp_path / "in", tmp_path):
        result = cli(tmp_path / "in", "--whole-image", "--annotate", folder)
        assert result.exit_code == 1
        assert "contains the input" in result.output and "Traceback" not in result.output
    assert a.read_bytes() == before and sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.png"]


def test_copies_keep_their_relative_paths_and_same_names_do_not_collide(cli, tmp_path):
    photo(tmp_path / "in" / "x" / "face.png", 50)
    photo(tmp_path / "in" / "y" / "face.png", 200)
    loose = photo(tmp_path / "other" / "face.png", 120)
    result = cli(tmp_path / "in", loose, "--whole-image", "--json", "--annotate", tmp_path / "ann")
    assert result.exit_code == 0, result.output
    ann = tmp_path / "ann"
    assert cv2.imread(str(ann / "x" / "face.png")).mean() < 100 < cv2.imread(str(ann / "y" / "face.png")).mean()
    assert (ann / "face.png").is_file(), "a file named on the command line keeps its name"
    again = photo(tmp_path / "more" / "face.png", 30)
    result = cli(loose, again, "--whole-image", "--annotate", ann)
    assert result.exit_code == 0 and (ann / "face-2.png").is_file(), "two inputs, one name: the second gets -2"


def test_never_writes_through_a_symlink_and_reports_it(cli, tmp_path):
    photo(tmp_path / "in" / "a.png", 100)
    victim = photo(tmp_path / "elsewhere" / "precious.png", 7)
    before = victim.read_bytes()
    (tmp_path / "ann").mkdir()
    os.symlink(victim, tmp_path / "ann" / "a.png")
    result = cli(tmp_path / "in", "--whole-image", "--annotate", tmp_path / "ann")
    assert result.exit_code == 1
    assert "symbolic link" in result.output and "1 input(s) skipped or not written" in result.output
    assert victim.read_bytes() == before


def test_a_failed_write_is_reported_with_exit_1(cli, tmp_path):
    photo(tmp_path / "in" / "a.png", 100)
    photo(tmp_path / "in" / "b.png", 90)
    (tmp_path / "ann" / "a.png").mkdir(parents=True)  # a folder where the copy should go
    result = cli(tmp_path / "in", "--whole-image", "--json", "--annotate", tmp_path / "ann")
    assert result.exit_code == 1
    (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert "a.png" in error and error.endswith("(not written)")
    assert (tmp_path / "ann" / "b.png").is_file(), "the other copy is still written"
    assert len([line for line in result.stdout.splitlines() if line.startswith("{")]) == 2


def test_missing_unreadable_and_oversized_inputs_exit_1_and_keep_going(cli, tmp_path):
    good = photo(tmp_path / "ok.png", 100)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    (tmp_path / "bomb.png").write_bytes(bomb + b"\x00" * 100)
    result = cli(tmp_path / "nope.png", good, tmp_path / "broken.jpg", tmp_path / "bomb.png", "--whole-image", "--json")
    assert result.exit_code == 1
    assert "nope.png: not found" in result.output
    assert "broken.jpg: not a PNG or JPEG" in result.output
    assert f"30000x30000 pixels is over the {MAX_IMAGE_PIXELS}-pixel limit" in result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["file"] for line in lines] == [str(good)]
    assert "3 input(s) skipped or not written" in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3 and all(line.endswith("(skipped)") for line in errors), "one error: line per bad input"


def test_nothing_to_read_is_one_error_line(cli, tmp_path):
    result = cli(tmp_path / "nope.png")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: no image to read: {tmp_path / 'nope.png'}: not found"]
    (tmp_path / "empty").mkdir()
    result = cli(tmp_path / "empty")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: no image to read: no image files in {tmp_path / 'empty'}"]


def test_unknown_detector_is_one_error_line(cli, tmp_path):
    result = cli(photo(tmp_path / "a.png", 1), "--detector", "mtcnn")
    assert result.exit_code == 1 and result.output.strip().splitlines() == [
        "error: unknown face detector 'mtcnn'; choose one of yunet, haar"
    ]


def test_48_megapixel_phone_photo_is_read_and_boxes_are_in_its_own_pixels(cli, tmp_path):
    """An 8000x6000 JPEG (a phone's 48 MP mode) is decoded at half size, and its faces' boxes are
    given in the photo's own pixels; a JPEG header claiming a decompression bomb is still refused."""
    from pathlib import Path

    import matplotlib

    hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    face = cv2.resize(hopper[40:330, 120:400], (1680, 1740), interpolation=cv2.INTER_CUBIC)
    big = np.full((6000, 8000, 3), 170, np.uint8)
    big[2000:3740, 3000:4680] = face
    assert cv2.imwrite(str(tmp_path / "phone.jpg"), big)
    del big
    result = cli(tmp_path / "phone.jpg", "--whole-image", "--json", "--annotate", tmp_path / "ann")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["faces"][0]["box"] == [0, 0, 8000, 6000]
    assert cv2.imread(str(tmp_path / "ann" / "phone.jpg")).shape == (3000, 4000, 3), "the copy is the half-size read"
    result = cli(tmp_path / "phone.jpg", "--json")
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.stdout)["faces"]
    x, y, w, h = found["box"]
    assert abs(x + w / 2 - 3840) < 300 and abs(y + h / 2 - 2870) < 400 and 600 < w < 1800, found["box"]

    from ferops.apps.photos import MAX_PHOTO_PIXELS

    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 65000, 65000, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    (tmp_path / "bomb.jpg").write_bytes(b"\xff\xd8" + sof + b"\x00" * 100)
    result = cli(tmp_path / "bomb.jpg", "--whole-image")
    assert result.exit_code == 1
    (line,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert f"65000x65000 pixels is over the {MAX_PHOTO_PIXELS}-pixel limit" in line, line
