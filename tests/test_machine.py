"""The CPU's name and flags decide train.mixed_bfloat16: auto (the rule measured by benchmarks/train_speed.py)."""

from ferops.training import machine

CPUINFO = """processor\t: 0
model name\t: {model}
flags\t\t: fpu sse avx512f {flags}

processor\t: 1
model name\t: {model}
flags\t\t: fpu sse avx512f {flags}
"""


def info(tmp_path, model, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(model=model, flags=flags))
    return machine.cpu_info(path)


def test_reads_model_and_flags(tmp_path):
    epyc = info(tmp_path, "AMD EPYC 9R14", "avx512_bf16 avx512_vnni")
    assert epyc == {"cpu_model": "AMD EPYC 9R14", "avx512_bf16": True, "amx_bf16": False, "amx_tile": False}
    assert machine.describe(epyc) == "CPU AMD EPYC 9R14; avx512_bf16 yes, amx_bf16 no, amx_tile no"


def test_auto_picks_bfloat16_only_with_amx(tmp_path):
    no_amx = info(tmp_path, "AMD EPYC", "avx512_bf16")
    amx = info(tmp_path, "Intel Xeon Platinum 8480", "avx512_bf16 amx_bf16 amx_tile")
    assert machine.precision("auto", no_amx)[0] == "float32"
    assert machine.precision("auto", amx)[0] == "mixed_bfloat16"
    assert machine.precision(True, no_amx) == ("mixed_bfloat16", "train.mixed_bfloat16: true")
    assert machine.precision(False, amx) == ("float32", "train.mixed_bfloat16: false")


def test_unreadable_cpuinfo_means_no_flags(tmp_path):
    got = machine.cpu_info(tmp_path / "missing")
    assert got["cpu_model"] and not any(got[f] for f in machine.FLAGS)
