import numpy as np
import pytest

from support.data import synthetic_rows, write_csv
from ferops.data import split
from ferops.data.ingest import ingest


def test_split_arrays_by_usage(tmp_path):
    table, _ = ingest(write_csv(tmp_path / "a.csv", synthetic_rows(per_class=2)))
    arrays = split.split_arrays(table)
    assert arrays["x_train"].shape == (14, 48, 48) and arrays["x_train"].dtype == np.uint8
    assert len(arrays["y_val"]) == 14 and len(arrays["y_test"]) == 14


def test_limit_is_stratified_and_bounded():
    labels = np.repeat(np.arange(7), [100, 10, 100, 200, 100, 80, 110])
    keep = split.limit_rows(labels, 70, seed=1)
    assert len(keep) <= 70 and len(set(keep)) == len(keep)
    assert set(labels[keep]) == set(range(7)), "every label keeps a share"
    assert np.sum(labels[keep] == 3) > np.sum(labels[keep] == 1)


def test_save_round_trips(tmp_path):
    arrays = {"x_train": np.zeros((2, 48, 48), np.uint8), "y_train": np.array([1, 2], np.uint8)}
    path = tmp_path / "p" / "out.npz"
    split.save(arrays, path)
    assert [p.name for p in path.parent.iterdir()] == ["out.npz"], "no temp file left behind"
    back = split.load(path)
    assert np.array_equal(back["y_train"], arrays["y_train"])


def test_a_save_that_fails_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    old = {"x_train": np.zeros((2, 48, 48), np.uint8), "y_train": np.array([1, 2], np.uint8)}
    path = tmp_path / "out.npz"
    split.save(old, path)
    before = path.read_bytes()

    def dies_half_way(file, **arrays):
        with open(file, "wb") as f:
            f.write(b"PK\x03\x04 half an archive")  # bytes on disk, then the process is interrupted
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(split.np, "savez_compressed", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        split.save({"x_train": np.ones((3, 48, 48), np.uint8), "y_train": np.array([3, 4, 5], np.uint8)}, path)
    assert path.read_bytes() == before, "the old file is untouched"
    assert np.array_equal(split.load(path)["y_train"], old["y_train"])
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"], "the half-written temp file is removed"


def test_atomic_write_text_failing_mid_write_keeps_the_old_text(tmp_path):
    from ferops.core import io

    path = tmp_path / "metrics.json"
    io.write_text(path, "old\n")
    with pytest.raises(OSError), io.atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("new, half")
        raise OSError("disk full")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
