"""Training throughput of a registered architecture next to this machine's own matmul peak, one run.

.venv/bin/python benchmarks/train_speed.py                 # fer_cnn; all CPUs, then 1 thread; ~2-3 min
.venv/bin/python benchmarks/train_speed.py --arch seed_vgg --batches 64 --threads 2

For each thread setting (a fresh process each: TensorFlow fixes its thread pools at start-up) it
measures, in the same process and minutes apart at most:
- peak: a 2048x2048 matmul in float32 and in bfloat16 (GFLOP per CPU-second: what a core can do);
- train: images/s of the architecture's Keras train step on synthetic in-memory batches, float32
  and mixed_bfloat16, with and without XLA (`jit_compile`), at a few batch sizes, and its achieved
  GFLOP per CPU-second (3 x forward conv/dense FLOPs per image) as a share of that precision's peak;
- input: images/s of the augmentation pipeline alone (the tf.data map train.fit uses);
- fit: images/s of train.fit's own pipeline (augmentation on the same cores, then the Keras step),
  float32 and mixed_bfloat16, with and without XLA: what an epoch of `dvc repro` actually runs at.
Last, per thread setting, the verdict behind train.mixed_bfloat16: auto (ferops.training.machine):
the bfloat16/float32 ratio of that fit rate and the precision the rule picks for this CPU.
`cpu` is the process's CPU seconds per wall second divided by its threads: below 1.0 the cores
were shared with other work. Wall-clock images/s then drops by about that factor, while the
per-CPU-second figures (img/cpu-s, GFLOP/cpu-s, of peak) stay comparable between rows and runs;
they are the ones to compare on a busy machine. Quiet-machine epoch time ~ 28,709 / (img/cpu-s x cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from ferops.training import machine
from results import Printed, write_results

# images/s is wall-clock; the per-CPU-second columns divide by the CPU time the process actually got.
ROW = "{:>2} {:<6} {:<8} {:<4} {:>5} {:>9} {:>10} {:>11} {:>7} {:>5}"


def conv_dense_flops(model) -> float:
    """Forward multiply-adds x2 of every Conv2D and Dense layer, per image."""
    import keras

    total = 0.0
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2.0 * h * w * kh * kw * layer.input.shape[-1] * c_out
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.input.shape[-1] * layer.units
    return total


class _Clock:
    """Wall and process-CPU seconds of a block: cpu share = cpu / (wall x threads)."""

    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu_share = (time.process_time() - self.cpu) / (self.wall * self.threads)


def timed(step, seconds: float, threads: int) -> tuple[float, int, float]:
    """Calls step() for about `seconds` (after one warm-up call); returns (wall, calls, cpu share)."""
    step()
    calls = 0
    with _Clock(threads) as clock:
        while calls < 2 or time.perf_counter() - clock.wall < seconds:
            step()
            calls += 1
    return clock.wall, calls, clock.cpu_share


def matmul_peak(dtype: str, threads: int, seconds: float) -> tuple[float, float]:
    import tensorflow as tf

    n = 2048
    a = tf.random.uniform((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.reduce_sum(tf.cast(tf.matmul(x, x), tf.float32)))
    wall, calls, cpu = timed(lambda: float(matmul(a)), seconds, threads)
    return 2.0 * n**3 * calls / wall / 1e9, cpu


def train_rate(arch: str, precision: str, jit: bool, batch: int, threads: int, seconds: float):
    import keras
    import numpy as np
    import tensorflow as tf

    from ferops.training.architectures import build

    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    model = build(arch)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="sparse_categorical_crossentropy", jit_compile=jit)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 256, (batch, 48, 48, 1)).astype(np.float32))
    y = tf.constant(rng.integers(0, 7, batch).astype(np.int32))
    model.train_on_batch(x, y)  # builds the optimizer and compiles the step
    wall, calls, cpu = timed(lambda: model.train_on_batch(x, y), seconds, threads)
    images_s = batch * calls / wall
    return images_s, images_s * 3 * conv_dense_flops(model) / 1e9, cpu


# params.yaml's default augmentation, so the input and fit rows run what the train stage runs.
AUGMENT = {"rotation_deg": 10, "flip": True, "shift": 0.1, "zoom": 0.1, "erase": 0.25}


def synthetic_arrays(n: int) -> dict:
    """n random training images in the train split's layout (a one-image validation split)."""
    import numpy as np

    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
        "y_train": rng.integers(0, 7, n).astype(np.uint8),
        "x_val": np.zeros((1, 48, 48), np.uint8),
        "y_val": np.zeros(1, np.uint8),
    }


def input_rate(batch: int, threads: int, seconds: float):
    from ferops.training.train import datasets

    train, _ = datasets(synthetic_arrays(batch * 40), {"seed": 0, "batch_size": batch, "augment": AUGMENT})
    it = iter(train.repeat())
    wall, calls, cpu = timed(lambda: next(it), seconds, threads)
    return batch * calls / wall, cpu


def fit_rate(arch: str, precision: str, jit: bool, batch: int, threads: int, seconds: float):
    """images/s of train.compile_model + train.datasets (augmentation included), as the train stage runs."""
    from ferops.training import train

    cfg = {
        "arch": arch,
        "epochs": 10,
        "batch_size": batch,
        "learning_rate": 2e-3,
        "weight_decay": 1e-4,
        "warmup_epochs": 1,
        "seed": 0,
        "mixed_bfloat16": precision == "mixed_bfloat16",
        "augment": AUGMENT,
    }
    n = batch * 24  # an "epoch" of 24 steps: fit's per-call set-up stays small next to them
    data, _ = train.datasets(synthetic_arrays(n), cfg)
    model = train.compile_model(cfg, steps_per_epoch=24)
    model.compile(optimizer=model.optimizer, loss="sparse_categorical_crossentropy", jit_compile=jit)
    wall, calls, cpu = timed(lambda: model.fit(data, epochs=1, verbose=0), seconds, threads)
    return n * calls / wall, cpu


def worker(args) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    t, peaks = args.threads, {}
    for precision, dtype in (("float32", "float32"), ("mixed_bfloat16", "bfloat16")):
        gflops, cpu = matmul_peak(dtype, t, args.seconds)
        peaks[precision] = gflops / (cpu * t)  # per CPU-second: comparable however busy the machine was
        row(t, "peak", precision, "-", "-", None, None, peaks[precision], None, cpu)
    for precision in ("float32", "mixed_bfloat16"):
        for jit in (False, True):
            for batch in args.batches:
                images_s, gflops, cpu = train_rate(args.arch, precision, jit, batch, t, args.seconds)
                per_cpu = gflops / (cpu * t)
                row(
                    t,
                    "train",
                    precision,
                    jit,
                    batch,
                    images_s,
                    images_s / (cpu * t),
                    per_cpu,
                    per_cpu / peaks[precision],
                    cpu,
                )
    images_s, cpu = input_rate(args.batches[0], t, args.seconds)
    row(t, "input", "float32", "-", args.batches[0], images_s, images_s / (cpu * t), None, None, cpu)
    per_cpu = {}
    for precision in ("float32", "mixed_bfloat16"):
        for jit in (False, True):
            images_s, cpu = fit_rate(args.arch, precision, jit, args.batches[0], t, 3 * args.seconds)
            per_cpu[precision, jit] = images_s / (cpu * t)
            row(t, "fit", precision, jit, args.batches[0], images_s, per_cpu[precision, jit], None, None, cpu)
    ratio = per_cpu["mixed_bfloat16", False] / per_cpu["float32", False]
    xla = per_cpu["float32", True] / per_cpu["float32", False]
    print(
        f"{t} thread(s): fit per CPU-second, bfloat16/float32 = {ratio:.2f} (> 1: bfloat16 faster), "
        f"float32 XLA/no XLA = {xla:.2f}; train.mixed_bfloat16: auto picks "
        f"{machine.precision('auto', machine.cpu_info())[0]} on this CPU",
        flush=True,
    )


def row(threads, what, precision, jit, batch, images_s, images_cpu_s, gflop_cpu_s, of_peak, cpu) -> None:
    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    jit_s = jit if isinstance(jit, str) else ("xla" if jit else "no")
    cells = (fmt(images_s, ".0f"), fmt(images_cpu_s, ".0f"), fmt(gflop_cpu_s, ".0f"), fmt(of_peak, ".0%"))
    print(ROW.format(threads, what, precision.replace("mixed_", ""), jit_s, batch, *cells, f"{cpu:.2f}"), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="fer_cnn")
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--threads", type=int, nargs="+", help="default: all CPUs, then 1 (first batch size only)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per row")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.threads = args.threads[0]
        return worker(args)
    threads = args.threads or sorted({os.cpu_count() or 1, 1}, reverse=True)
    out = Printed()
    out(f"{machine.describe(machine.cpu_info())}; {os.cpu_count()} logical CPUs")
    out(f"load average before: {json.dumps(os.getloadavg())}")
    out(
        ROW.format("th", "what", "precision", "jit", "batch", "images/s", "img/cpu-s", "GFLOP/cpu-s", "of peak", "cpu")
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for i, t in enumerate(threads):
        batches = args.batches if i == 0 else args.batches[:1]  # other thread counts: the first batch size only
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--arch",
            args.arch,
            "--threads",
            str(t),
            "--seconds",
            str(args.seconds),
            "--batches",
            *map(str, batches),
        ]
        # The worker's rows, echoed as they come and kept for the results file.
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) as worker_proc:
            for line in worker_proc.stdout:
                out(line.rstrip("\n"))
        if worker_proc.returncode:
            raise subprocess.CalledProcessError(worker_proc.returncode, cmd)
    out(f"load average after: {json.dumps(os.getloadavg())}")
    write_results("train_speed", out)


if __name__ == "__main__":
    main()
