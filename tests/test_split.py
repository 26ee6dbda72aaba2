import numpy as np

from conftest import synthetic_rows, write_csv
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


def test_save_is_atomic_and_round_trips(tmp_path):
    arrays = {"x_train": np.zeros((2, 48, 48), np.uint8), "y_train": np.array([1, 2], np.uint8)}
    path = tmp_path / "p" / "out.npz"
    split.save(arrays, path)
    assert [p.name for p in path.parent.iterdir()] == ["out.npz"], "no temp file left behind"
    back = split.load(path)
    assert np.array_equal(back["y_train"], arrays["y_train"])
