"""float32 vs mixed_bfloat16 training speed on this machine, side by side in one run.

Backs the rule in ferops.training.machine (train.mixed_bfloat16: auto): prints the CPU, its flags
that matter, the median step time of each policy and their ratio.

    .venv/bin/python benchmarks/precision.py [--arch fer_cnn] [--batch 128] [--steps 12] [--rounds 3]
"""

import argparse
import statistics
import time

import keras
import numpy as np

from ferops.training import architectures, machine


def step_seconds(policy: str, arch: str, batch: int, steps: int) -> float:
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = architectures.build(arch)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch * steps, 48, 48, 1)).astype(np.float32)
    y = rng.integers(0, 7, batch * steps)
    model.fit(x[: batch * 2], y[: batch * 2], batch_size=batch, epochs=1, verbose=0)  # trace and warm up
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="fer_cnn")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    info = machine.cpu_info()
    print(machine.describe(info))
    times: dict[str, list[float]] = {"float32": [], "mixed_bfloat16": []}
    for _ in range(args.rounds):  # interleaved, so load from other processes hits both alike
        for policy in times:
            times[policy].append(step_seconds(policy, args.arch, args.batch, args.steps))
    f32, bf16 = (statistics.median(times[p]) for p in ("float32", "mixed_bfloat16"))
    print(f"{args.arch}, batch {args.batch}: float32 {f32 * 1000:.0f} ms/step,"
          f" mixed_bfloat16 {bf16 * 1000:.0f} ms/step")
    print(f"ratio mixed_bfloat16 / float32 = {bf16 / f32:.2f} (< 1: bfloat16 faster)")
    print(f"rule picks: {machine.precision('auto', info)[0]}")


if __name__ == "__main__":
    main()
