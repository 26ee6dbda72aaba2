"""DVC stage preprocess: validated table -> uint8 arrays per split in one .npz."""

import mlflow

from ferops.core import config, stage, tracking
from ferops.data import split


def run() -> None:
    params = config.load_params()
    tracking.setup()  # an unreachable tracking server fails here, before any work
    table = split.load_table(config.TABLE)
    arrays = split.split_arrays(table, limit=params["data"]["limit"], seed=params["train"]["seed"])
    split.save(arrays, config.ARRAYS)
    sizes = {k: len(v) for k, v in arrays.items() if k.startswith("y_")}
    print("preprocess:", ", ".join(f"{k[2:]}={n}" for k, n in sizes.items()), "->", config.ARRAYS)

    with mlflow.start_run(run_name="preprocess", tags={"stage": "preprocess", **tracking.lineage_tags(config.ARRAYS)}):
        mlflow.log_param("limit", params["data"]["limit"])
        mlflow.log_metrics({f"rows_{k[2:]}": n for k, n in sizes.items()})


if __name__ == "__main__":
    stage.main(run)
