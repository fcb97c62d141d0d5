"""Throughput of `fer-denoise denoise`: a folder of 5,000 48x48 PNGs, and an in-memory batch.

    python bench/cli_throughput.py [--model models/unet/salt_pepper.keras] [--images 5000]

Without a trained model, an untrained U-Net built from params.yaml is timed (same cost).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from fer_denoise.cli import Denoiser, main


def untrained_model(folder: Path) -> Path:
    from fer_denoise.models import build_model
    from fer_denoise.params import load_params

    path = folder / "untrained.keras"
    settings = load_params()["models"]["unet"]
    build_model("unet", (48, 48, 1), **settings).save(path)
    return path


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/unet/salt_pepper.keras"))
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=256)
    arguments = parser.parse_args()
    images = np.random.default_rng(0).integers(0, 256, (arguments.images, 48, 48), np.uint8)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        model = arguments.model if arguments.model.is_file() else untrained_model(work)
        for index, image in enumerate(images):
            Image.fromarray(image).save(work / f"{index:05d}.png")
        denoiser = Denoiser(model, arguments.batch_size)
        denoiser(images[:256].astype(np.float32) / 255)  # warm-up: build the graph once
        start = time.perf_counter()
        denoiser(images.astype(np.float32) / 255)
        in_memory = arguments.images / (time.perf_counter() - start)
        start = time.perf_counter()
        status = main(
            [
                "denoise",
                "--model",
                str(model),
                "--batch-size",
                str(arguments.batch_size),
                str(work),
                "--out",
                str(work / "out"),
            ]
        )
        folder = arguments.images / (time.perf_counter() - start)
        assert status == 0 and len(list((work / "out").rglob("*.png"))) == arguments.images
    print(f"model            {model}")
    print(f"in-memory batch  {in_memory:8.0f} images/s")
    print(f"folder of PNGs   {folder:8.0f} images/s (model load, PNG read and write included)")


if __name__ == "__main__":
    run()
