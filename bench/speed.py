"""This CPU's speed at the pipeline's work: milliseconds per training step of the default U-Net
(16 filters, batches of 16 faces of 48x48, float32, Adam, MSE), the step that most of a forced
`dvc repro` repeats. The CPUs lent to this project differ by up to 2x from session to session
and drift within one; `bench/quality.py --repro` runs this before and after the pipeline, so
that a run's wall time can be read against the speed of the machine that made it.

    python bench/speed.py            # prints one line: "<ms> ms per step (...)"
    python bench/speed.py --json     # {"ms_per_step": ..., "steps": ..., "cpu": ...}

Synthetic faces (seeded uniform noise): a step's time does not depend on the pixels.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fer_denoise.models import build_model  # noqa: E402
from fer_denoise.precision import CPUINFO, cpu_flags  # noqa: E402

BATCH, SIDE = 16, 48
VECTOR_UNITS = {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}  # what sets a step's speed


def cpu_name() -> str:
    """The CPU's model name, cores and vector units, as Linux reports them."""
    name = platform.processor() or "unknown"
    if CPUINFO.is_file():
        for line in CPUINFO.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    units = sorted((cpu_flags() or set()) & VECTOR_UNITS)
    return f"{name}, {os.cpu_count()} cores" + (f", {' '.join(units)}" if units else "")


def ms_per_step(steps: int, warmup: int, seed: int = 2026) -> float:
    """The median of five timed runs of steps / 5 training steps each, after `warmup` steps."""
    import keras  # after fer_denoise, which keeps TensorFlow's start-up notices quiet

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    noisy = rng.random((BATCH, SIDE, SIDE, 1), dtype=np.float32)
    clean = rng.random((BATCH, SIDE, SIDE, 1), dtype=np.float32)
    model = build_model("unet", (SIDE, SIDE, 1))
    model.compile(optimizer=keras.optimizers.Adam(0.002), loss="mse")
    for _ in range(warmup):
        model.train_on_batch(noisy, clean)
    chunk, times = max(steps // 5, 1), []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(chunk):
            model.train_on_batch(noisy, clean)
        times.append((time.perf_counter() - began) / chunk)
    return round(1000 * float(np.median(times)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps (default 200)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    arguments = parser.parse_args()
    result = {
        "ms_per_step": ms_per_step(arguments.steps, arguments.warmup),
        "steps": arguments.steps,
        "cpu": cpu_name(),
    }
    if arguments.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['ms_per_step']} ms per step (default U-Net, batches of {BATCH}, "
            f"median of 5 x {arguments.steps // 5} steps; {result['cpu']})"
        )


if __name__ == "__main__":
    main()
