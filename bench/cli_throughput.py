"""Throughput of `fer-denoise denoise`: a folder of 5,000 48x48 PNGs (in this process, and in
a new one as a user runs it), and an in-memory batch.

    python bench/cli_throughput.py [--model models/unet/salt_pepper.keras] [--images 5000]

Without a trained model, an untrained U-Net built from params.yaml is timed (same cost).
Each measurement is repeated (`--repeats`): this machine's speed drifts by +/-20% within
minutes, so one run says little. Two figures say how far a faster code path could go: the
rate a large matrix product reaches on this CPU, divided by the model's arithmetic per image,
is the ceiling for the in-memory rate; the CPU time per image (all cores) shows what reading
and writing files add.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from fer_denoise.cli import Denoiser, main

TARGET = 1000  # images/s, for the U-Net on this project's 2-core CPU (issue 7)


def untrained_model(folder: Path) -> Path:
    from fer_denoise.models import build_model
    from fer_denoise.params import load_params

    path = folder / "untrained.keras"
    settings = load_params().models["unet"]
    build_model("unet", (48, 48, 1), **settings).save(path)
    return path


def flops_per_image(model_file: Path) -> int:
    """Floating-point operations (2 per multiply-add) of the convolutions for one image of the
    model's training size; everything else in these models is cheap beside them."""
    import keras

    from fer_denoise.inference import load_model

    total = 0
    for layer in load_model(model_file).layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            positions = math.prod(layer.input.shape[1:3])  # each input pixel scatters a kernel
        elif isinstance(layer, keras.layers.Conv2D):
            positions = math.prod(layer.output.shape[1:3])
        else:
            continue
        total += 2 * positions * math.prod(layer.kernel.shape)
    return total


def peak_gflops(size: int = 4096, repeats: int = 5) -> float:
    """The best float32 rate of a size x size matrix product: what this CPU sustains at most."""
    import keras

    a = keras.random.normal((size, size), seed=0)
    keras.ops.convert_to_numpy(keras.ops.matmul(a, a))  # warm-up
    fastest = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.matmul(a, a))
        fastest = min(fastest, time.perf_counter() - start)
    return 2 * size**3 / fastest / 1e9


def rates(images: int, repeats: int, work) -> tuple[list[float], float]:
    """Images per second of `work()`, once per repeat, and the median CPU time per image in
    milliseconds, summed over all cores (user and system)."""
    measured, cpu = [], []
    for _ in range(repeats):
        before, start = os.times(), time.perf_counter()
        work()
        after, elapsed = os.times(), time.perf_counter() - start
        measured.append(images / elapsed)
        busy = after.user - before.user + after.system - before.system
        cpu.append(busy / images * 1e3)
    return measured, statistics.median(cpu)


def spread(measured: list[float]) -> str:
    return (
        f"{statistics.median(measured):6.0f} images/s "
        f"(min {min(measured):.0f}, max {max(measured):.0f}, {len(measured)} runs)"
    )


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/unet/salt_pepper.keras"))
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    images = np.random.default_rng(0).integers(0, 256, (arguments.images, 48, 48), np.uint8)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        inputs, out = work / "in", work / "out"
        inputs.mkdir()
        model = arguments.model if arguments.model.is_file() else untrained_model(work)
        for index, image in enumerate(images):
            Image.fromarray(image).save(inputs / f"{index:05d}.png")
        denoiser = Denoiser(model, arguments.batch_size)
        batch = images.astype(np.float32) / 255
        denoiser(batch[: arguments.batch_size])  # warm-up: build the graph once
        in_memory, in_memory_cpu = rates(
            arguments.images, arguments.repeats, lambda: denoiser(batch)
        )

        command = ["denoise", "--model", str(model), "--batch-size", str(arguments.batch_size)]
        command += [str(inputs), "--out", str(out)]
        statuses = []
        folder, folder_cpu = rates(
            arguments.images, arguments.repeats, lambda: statuses.append(main(command))
        )
        assert set(statuses) == {0} and len(list(out.rglob("*.png"))) == arguments.images
        # What a user waits for: a new process also imports the backend before it loads the model.
        process = [sys.executable, "-m", "fer_denoise.cli", *command]
        fresh, _ = rates(
            arguments.images,
            arguments.repeats,
            lambda: subprocess.run(process, check=True, capture_output=True),
        )
        flops = flops_per_image(model)
    peak = peak_gflops()
    print(f"model            {model}: {flops / 1e6:.0f} MFLOP per image")
    print(f"CPU peak         {peak:.0f} GFLOP/s (float32 4096x4096 matrix product, best of 5)")
    print(f"                 = a ceiling of {peak * 1e9 / flops:.0f} images/s for this model")
    print(f"in-memory batch  {spread(in_memory)}, {in_memory_cpu:.2f} CPU-ms per image")
    print(f"                 = {statistics.median(in_memory) * flops / 1e9:.0f} GFLOP/s sustained")
    print(f"folder of PNGs   {spread(folder)}, {folder_cpu:.2f} CPU-ms per image")
    print("                 (model load, PNG read and write included)")
    print(f"new process      {spread(fresh)}")
    print("                 (the same command run as `fer-denoise`: the backend's import too)")
    cores = os.cpu_count()
    budget = cores / TARGET * 1e3
    print(f"target           {TARGET} images/s on {cores} cores: {budget:.2f} CPU-ms per image")


if __name__ == "__main__":
    run()
