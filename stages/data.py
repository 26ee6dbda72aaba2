"""DVC stage data: put FER-2013 at the tracked path (params.yaml's data.csv), or say how to get it.

Also what `make data` runs. Its output is the data DVC tracks and ingest reads, so `dvc repro` typed
in a fresh clone finds the data ($FER2013_CSV or a known copy) or says where to download it.
"""

from pathlib import Path

from ferops.core import config, stage
from ferops.data import source


def run() -> None:
    params = config.load_params()
    print(source.locate(Path(params["data"]["csv"])))


if __name__ == "__main__":
    stage.main(run)
