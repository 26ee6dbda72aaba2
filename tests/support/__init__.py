"""Helpers shared by the tests and the benchmarks, by topic (conftest.py keeps only fixtures):

- data: where the repository and the real FER-2013 file are, synthetic CSVs, real faces;
- processes: subprocess environments, ports, servers started for a block, waiting on processes;
- pipeline: a throwaway copy of the DVC pipeline on synthetic data, and `dvc` run in it;
- faces: faces placed on frames (drawn, or real ones the detectors find);
- videos: video files made for a test, including broken ones, and a writer that fails silently;
- apps: the session app served in-process, stand-in detectors and classifiers, its videos;
- serving: requests to the REST server and its memory;
- browser: headless Chromium for the browser tests;
- stage_imports: the ferops files a script's imports reach (for the DVC dependency check).

Tests import them as `support.<topic>` (tests/ is on sys.path: pyproject.toml's pytest pythonpath);
benchmarks put tests/ on sys.path first. Nothing here imports a test module.
"""
