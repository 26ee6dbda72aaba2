import numpy as np
import pytest

from support.data import REAL_CSV, needs_real_data, synthetic_rows, write_csv
from ferops.data.ingest import IngestError, counts, ingest, parse

GOOD = " ".join(["7"] * 2304)


def test_valid_rows_parse_exactly(tmp_path):
    rows = synthetic_rows(per_class=2)
    table, rejects = ingest(write_csv(tmp_path / "a.csv", rows))
    assert rejects == []
    assert len(table) == len(rows)
    first = np.array(rows[0].split(",")[1].split(), dtype=np.uint8).reshape(48, 48)
    assert np.array_equal(table.pixels[0], first)
    assert table.labels[0] == int(rows[0].split(",")[0])
    assert list(table.line[:3]) == [2, 3, 4]


def test_gzip_and_kaggle_header_whitespace_and_crlf(tmp_path):
    rows = synthetic_rows(per_class=1)
    path = tmp_path / "a.csv.gz"
    path.write_bytes(__import__("gzip").compress(("emotion, pixels ,Usage\r\n" + "\r\n".join(rows) + "\r\n").encode()))
    table, rejects = ingest(path)
    assert rejects == [] and len(table) == len(rows)


@pytest.mark.parametrize(
    "row, reason",
    [
        (f"3,{GOOD},Training,extra", "expected 3 fields, got 4"),
        (f"3,{GOOD}", "expected 3 fields, got 2"),
        (f"7,{GOOD},Training", "label '7' is not an integer in 0..6"),
        (f"-1,{GOOD},Training", "label '-1' is not an integer"),
        (f"x,{GOOD},Training", "label 'x' is not an integer"),
        (f"3,{' '.join(['7'] * 2303)},Training", "expected 2304 pixel values, got 2303"),
        (f"3,{' '.join(['7'] * 2305)},Training", "expected 2304 pixel values, got 2305"),
        (f"3,{GOOD[:-1]}256,Training", "pixel value 256 outside 0..255"),
        (f"3,{GOOD[:-1]}1000,Training", "pixel value 1000 outside 0..255"),
        (f"3,{GOOD[:-1]}-7,Training", "negative pixel value '-7'"),
        (f"3,-1 {GOOD[2:]},Training", "negative pixel value '-1'"),
        (f"3,{GOOD[:-1]}0255,Training", "pixel value '0255' has a leading zero"),
        (f"3,{GOOD[:-1]}007,Training", "pixel value '007' has a leading zero"),
        (f"3,{GOOD[:-1]}7.5,Training", "not space-separated integers (found '7.5')"),
        (f"3,{GOOD[:-1]}a,Training", "not space-separated integers (found 'a')"),
        (f"3,{GOOD[:-1]}7\t7,Training", "not space-separated integers"),
        ("3,,Training", "empty pixels"),
        (f"3,{GOOD},Validation", "unknown Usage 'Validation'"),
    ],
)
def test_each_bad_row_kind_is_rejected_with_line_and_reason(tmp_path, row, reason):
    good = synthetic_rows(per_class=1)
    table, rejects = ingest(write_csv(tmp_path / "a.csv", [good[0], row, *good[1:]]))
    assert len(table) == len(good), "no valid row may be lost"
    assert [r.line for r in rejects] == [3]
    assert reason in rejects[0].reason


def test_blank_lines_are_skipped_not_rejected(tmp_path):
    good = synthetic_rows(per_class=1)
    table, rejects = ingest(write_csv(tmp_path / "a.csv", [good[0], "", good[1]]))
    assert len(table) == 2 and rejects == []
    assert list(table.line) == [2, 4]


def test_missing_columns_fail_clearly(tmp_path):
    with pytest.raises(IngestError, match="line 1: header .* lacks column\\(s\\) pixels"):
        ingest(write_csv(tmp_path / "a.csv", ["3,Training"], header="emotion,Usage"))


def test_no_valid_rows_fails_clearly(tmp_path):
    with pytest.raises(IngestError, match="no valid rows .* line 2: label '9'"):
        ingest(write_csv(tmp_path / "a.csv", [f"9,{GOOD},Training"]))


def test_missing_file_says_where_and_how(tmp_path):
    with pytest.raises(IngestError, match="not found at .*nope.csv.*Kaggle.*FER2013_CSV"):
        ingest(tmp_path / "nope.csv")


def test_counts_per_usage_and_label(tmp_path):
    table, _ = ingest(write_csv(tmp_path / "a.csv", synthetic_rows(per_class=2)))
    c = counts(table)
    assert c["Training"]["total"] == 14 and c["PublicTest"]["happy"] == 2 and c["total"]["rows"] == 42


def test_parse_accepts_bytes_directly():
    table, rejects = parse(b"emotion,pixels,Usage\n3," + GOOD.encode() + b",PrivateTest")
    assert len(table) == 1 and table.usage[0] == "PrivateTest" and rejects == []


@needs_real_data
def test_real_fer2013_matches_published_counts():
    table, rejects = ingest(REAL_CSV)
    c = counts(table)
    assert rejects == []
    assert (c["Training"]["total"], c["PublicTest"]["total"], c["PrivateTest"]["total"]) == (28709, 3589, 3589)
    assert c["Training"]["disgust"] == 436 and c["PrivateTest"]["happy"] == 879


def test_file_whose_only_row_has_empty_pixels_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match="no valid rows .* line 2: empty pixels"):
        ingest(write_csv(tmp_path / "a.csv", ["3,,Training"]))


def test_zero_alone_is_canonical(tmp_path):
    row = "3," + " ".join(["0"] * 2303 + ["255"]) + ",Training"
    table, rejects = ingest(write_csv(tmp_path / "a.csv", [row]))
    assert rejects == [] and table.pixels[0].max() == 255 and table.pixels[0, 0, 0] == 0


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "bad_crc"])
def test_damaged_gzip_is_one_clear_error(tmp_path, damage):
    import gzip

    data = bytearray(gzip.compress(("emotion,pixels,Usage\n" + "\n".join(synthetic_rows(per_class=1))).encode()))
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "corrupt":
        data[20:60] = b"\xff" * 40
    else:
        data[-8] ^= 0xFF  # the CRC-32 in the trailer
    path = tmp_path / "fer.csv.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(IngestError, match=r"fer.csv.gz: not a readable gzip file \(.+\); download it again"):
        ingest(path)


def test_damaged_gzip_through_the_stage_is_one_error_line(tmp_path):
    import gzip
    import subprocess
    import sys

    path = tmp_path / "fer.csv.gz"
    path.write_bytes(gzip.compress(b"emotion,pixels,Usage\n" + GOOD.encode())[:40])
    code = "import sys; from ferops.core import stage; from ferops.data import ingest; " + (
        "stage.main(lambda: ingest.ingest(sys.argv[1]))"
    )
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith("error: ")
    assert "not a readable gzip file" in r.stderr and "Traceback" not in r.stderr


def test_rfc4180_quoted_csv_as_pandas_writes_it(tmp_path):
    import csv

    import pandas as pd

    rows = synthetic_rows(per_class=1)
    frame = pd.DataFrame([r.split(",") for r in rows], columns=["emotion", "pixels", "Usage"])
    path = tmp_path / "quoted.csv"
    frame.to_csv(path, index=False, quoting=csv.QUOTE_ALL)
    assert path.read_text().startswith('"emotion","pixels","Usage"\n"0","')
    table, rejects = ingest(path)
    plain, _ = ingest(write_csv(tmp_path / "plain.csv", rows))
    assert rejects == [] and len(table) == len(rows)
    assert np.array_equal(table.pixels, plain.pixels) and np.array_equal(table.labels, plain.labels)
    assert list(table.usage) == list(plain.usage)


def test_quoted_bad_rows_still_say_why(tmp_path):
    good = synthetic_rows(per_class=1)
    bad = ['"3","",Training', f'"3","{GOOD[:-1]}-1","Training"', f'"9","{GOOD}","Training"']
    table, rejects = ingest(write_csv(tmp_path / "a.csv", [*good, *bad], header='"emotion","pixels","Usage"'))
    assert len(table) == len(good)
    assert [r.reason for r in rejects] == [
        "empty pixels",
        "negative pixel value '-1'",
        "label '9' is not an integer in 0..6",
    ]


def test_cr_only_line_endings(tmp_path):
    rows = synthetic_rows(per_class=1)
    path = tmp_path / "mac.csv"
    path.write_bytes(("emotion,pixels,Usage\r" + "\r".join([rows[0], "", *rows[1:]]) + "\r").encode())
    table, rejects = ingest(path)
    assert rejects == [] and len(table) == len(rows)
    assert list(table.line[:2]) == [2, 4], "line numbers count CR-terminated lines"
