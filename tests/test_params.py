"""params.yaml is checked against one schema before any stage does any work."""

import copy
import subprocess
import sys

import pytest
import yaml

from support.data import REPO
from ferops.core import config

PARAMS = config.load_params(REPO / "params.yaml")


def with_change(change) -> dict:
    params = copy.deepcopy(PARAMS)
    change(params)
    return params


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p["train"].update(epoch=5), "unknown key train.epoch; allowed keys in train: arch, epochs,"),
        (lambda p: p.update(trian={}), "unknown key trian; allowed keys: data, train, evaluate, export"),
        (lambda p: p["train"].update(epochs="5"), "train.epochs: '5' is not allowed; must be an integer"),
        (lambda p: p["train"].update(epochs=True), "train.epochs: True is not allowed; must be an integer"),
        (
            lambda p: p["train"].update(arch="resnet"),
            "train.arch: 'resnet' is not allowed; must be one of fer_cnn, seed_vgg",
        ),
        (
            lambda p: p["train"].update(mixed_bfloat16=1),
            "train.mixed_bfloat16: 1 is not allowed; must be one of auto, true",
        ),
        (lambda p: p["train"]["augment"].pop("flip"), "missing key train.augment.flip (true or false)"),
        (
            lambda p: p["export"].update(min_accuracy="high"),
            "export.min_accuracy: 'high' is not allowed; must be a number",
        ),
    ],
)
def test_bad_params_name_the_key_and_the_allowed_values(change, message):
    with pytest.raises(config.ParamsError) as e:
        config.validate(with_change(change))
    assert str(e.value).startswith(message), str(e.value)


def test_the_shipped_params_and_every_precision_setting_are_valid():
    for setting in ("auto", True, False):
        config.validate(with_change(lambda p, s=setting: p["train"].update(mixed_bfloat16=s)))
    config.validate(with_change(lambda p: p["train"].update(learning_rate=1)))  # an int is a fine number


def test_arch_names_are_the_registry():
    from ferops.training import architectures

    assert set(architectures.ARCHITECTURES) == set(config.ARCHITECTURES)
    with pytest.raises(ValueError, match="not listed in ferops.core.config.ARCHITECTURES"):
        architectures.register("unlisted")


def test_a_stage_fails_before_any_work_with_one_error_line(tmp_path):
    """Every stage loads params through the schema: a misspelt key stops ingest before it reads the CSV."""
    params = with_change(lambda p: p["train"].update(epoch=5))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = subprocess.run(
        [sys.executable, str(REPO / "stages" / "ingest.py")], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: params.yaml: unknown key train.epoch; allowed keys in train: " + ", ".join(config.SCHEMA["train"])
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"], "nothing read, nothing written"
