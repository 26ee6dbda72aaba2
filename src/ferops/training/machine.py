"""The machine training runs on: CPU model and the flags that decide its fastest precision.

Rule for train.mixed_bfloat16: auto, measured with benchmarks/train_speed.py: bfloat16 pays off on
CPUs with AMX tiles (amx_bf16), where oneDNN runs bf16 matrix products on them; with AVX-512 BF16
alone, the casts around every layer cost more than the narrower arithmetic saves, so float32 wins.
"""

from __future__ import annotations

import platform
from pathlib import Path

FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str | bool]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break  # every core reports the same
    except OSError:
        pass
    return {"cpu_model": model, **{f: f in flags for f in FLAGS}}


def describe(info: dict[str, str | bool]) -> str:
    return f"CPU {info['cpu_model']}; " + ", ".join(f"{f} {'yes' if info[f] else 'no'}" for f in FLAGS)


def precision(setting: str | bool, info: dict[str, str | bool]) -> tuple[str, str]:
    """train.mixed_bfloat16 (auto, true, false) -> (Keras dtype policy, why)."""
    if setting is True:
        return "mixed_bfloat16", "train.mixed_bfloat16: true"
    if setting is False:
        return "float32", "train.mixed_bfloat16: false"
    if info["amx_bf16"]:
        return "mixed_bfloat16", "auto: the CPU has AMX (amx_bf16)"
    return "float32", "auto: no AMX on this CPU, float32 measured faster than bfloat16 without it"
