"""Benchmarks of the foundation pipeline on the real FER2013 in ../shared/fer2013/.

Prints the full-CSV parse time (plain and gzip-compressed CSV, and the image-folder zip) and
the U-Net's training and inference throughput with the settings in params.yaml.

    python bench/foundation.py [--data ../shared/fer2013] [--steps 60]
"""

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np


def seconds(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def bench_parse(data_dir: Path) -> dict[str, float]:
    from fer_denoise.fer2013 import parse_csv, read_fer2013

    compressed = data_dir / "fer2013.csv.gz"
    gunzip_s, csv_bytes = seconds(lambda: gzip.decompress(compressed.read_bytes()))
    parse_s, data = seconds(lambda: parse_csv(csv_bytes, "fer2013.csv"))
    gz_s, _ = seconds(lambda: read_fer2013(compressed))
    zip_s, from_zip = seconds(lambda: read_fer2013(data_dir / "archive.zip"))
    assert np.array_equal(from_zip.images, data.images), "zip and CSV disagree"
    return {
        "csv_mb": round(len(csv_bytes) / 1e6, 1),
        "images": len(data),
        "parse_plain_csv_s": round(parse_s, 2),
        "gunzip_s": round(gunzip_s, 2),
        "read_csv_gz_s": round(gz_s, 2),
        "read_image_zip_s": round(zip_s, 2),
    }


def bench_training(steps: int) -> dict[str, float]:
    import keras

    from fer_denoise.losses import get_loss
    from fer_denoise.models import build_model
    from fer_denoise.noise import to_uint8
    from fer_denoise.params import load_params
    from fer_denoise.training import NoisyBatches

    params = load_params()
    train = params.train
    batch = train.batch_size
    clean = to_uint8(np.random.default_rng(0).random(((steps + 5) * batch, 48, 48)))
    spec = {"type": "gaussian", "sigma": 0.04}
    model = build_model("unet", (48, 48, 1), **params.models["unet"])
    model.compile(optimizer=keras.optimizers.Adam(train.learning_rate), loss=get_loss(train.loss))
    warmup = NoisyBatches(clean[: 5 * batch], spec, batch, 0, "bench")
    model.fit(warmup, epochs=1, verbose=0)
    feed = NoisyBatches(clean[5 * batch :], spec, batch, 0, "bench")
    train_s, _ = seconds(lambda: model.fit(feed, epochs=1, verbose=0))
    images = clean[:2048, ..., None].astype(np.float32) / 255
    model.predict(images[:256], batch_size=256, verbose=0)
    predict_s, _ = seconds(lambda: model.predict(images, batch_size=256, verbose=0))
    return {
        "unet_params": model.count_params(),
        "batch_size": batch,
        "train_images_per_s": round(steps * batch / train_s, 1),
        "predict_images_per_s": round(len(images) / predict_s, 1),
        "epoch_minutes_full_data": round(28709 / (steps * batch / train_s) / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/fer2013"))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the results here")
    arguments = parser.parse_args()
    if not (arguments.data / "fer2013.csv.gz").is_file():
        raise SystemExit(
            f"{arguments.data}/fer2013.csv.gz not found: pass --data with the "
            "folder that holds fer2013.csv.gz and archive.zip"
        )
    results = {"parse": bench_parse(arguments.data), "training": bench_training(arguments.steps)}
    for group, values in results.items():
        for key, value in values.items():
            print(f"{group:>9} {key:<26} {value}")
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
