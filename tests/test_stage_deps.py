"""Each DVC stage depends on exactly the code it runs: dvc.yaml's code deps are the files its imports reach."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from support.data import REPO
from support.stage_imports import files_run, imported_modules

SRC = REPO / "src"
# Stages whose script is deliberately no dependency: `data` only links the user's FER-2013 file and is
# run by `make data` every time anyway (its output is persist: DVC never deletes the user's file).
NO_CODE_DEPS = {"data"}


def _stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _script(stage: str) -> Path:
    match = re.fullmatch(r"stages/python (stages/\w+\.py)", _stages()[stage]["cmd"])
    assert match, f"{stage}: cmd is not `stages/python stages/<name>.py`: {_stages()[stage]['cmd']}"
    return REPO / match.group(1)


def _model_code() -> list[Path]:
    """The registered model's models-from-code file, as the export stage logs it: it runs wherever the model
    is loaded, so its imports (lazy ones in load_context/predict included) are the export stage's code too."""
    from ferops.registry import export

    return [SRC / export.PYFUNC_FILE.resolve().relative_to(export.PACKAGE_DIR.resolve().parent)]


def code_run(stage: str) -> set[str]:
    roots = [_script(stage)] + (_model_code() if stage == "export" else [])
    return {p.relative_to(REPO).as_posix() for p in files_run(roots, SRC)}


def code_deps(stage: str) -> set[str]:
    deps = _stages()[stage].get("deps", [])
    return {d for d in deps if d.startswith(("src/", "stages/"))}


@pytest.mark.parametrize("stage", [s for s in _stages() if s not in NO_CODE_DEPS])
def test_stage_deps_are_exactly_the_code_it_imports(stage):
    run, deps = code_run(stage), code_deps(stage)
    problems = [f"{stage}: {f} is imported by the stage but is not its dep in dvc.yaml" for f in sorted(run - deps)]
    problems += [f"{stage}: {f} is a dep in dvc.yaml but the stage does not import it" for f in sorted(deps - run)]
    assert not problems, "\n".join(problems)


def test_stages_without_code_deps_have_none():
    for stage in NO_CODE_DEPS:
        assert code_deps(stage) == set(), f"{stage}: has code deps; take it out of NO_CODE_DEPS so they are checked"


def test_the_video_finder_is_no_training_dependency():
    """The issue's example: the webcam's video finder is app code, so editing it retrains nothing."""
    for stage in ("train", "evaluate", "export"):
        assert "src/ferops/runtime/video_faces.py" not in code_deps(stage), stage


def test_the_walk_finds_lazy_relative_and_package_imports(tmp_path):
    src = tmp_path / "src"
    files = {
        "ferops/__init__.py": "",
        "ferops/a/__init__.py": "",
        "ferops/a/b.py": "X = 1\n",
        "ferops/a/c.py": "from .b import X\n",
        "ferops/d/__init__.py": "",
        "ferops/d/lazy.py": "",
        "ferops/d/unused.py": "",
        "ferops/e.py": "",
    }
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            from ferops.a.c import X
            import ferops.e

            def later():
                from ferops.d import lazy
            """
        )
    )
    expected = {"ferops", "ferops.a", "ferops.a.c", "ferops.e", "ferops.d", "ferops.d.lazy"}
    assert imported_modules(script, src) == expected
    reached = {p.relative_to(tmp_path).as_posix() for p in files_run([script], src)}
    assert reached == {"script.py"} | {f"src/{name}" for name in files if name != "ferops/d/unused.py"}
