"""fer-denoise: apply the pipeline's trained models, and its noise, to your own images.

    fer-denoise denoise --model models/unet/salt_pepper.keras INPUT... --out DIR
    fer-denoise info models/unet/salt_pepper.keras
    fer-denoise noise --task salt_pepper INPUT... --out DIR

INPUT is an image file (PNG, JPEG, BMP, TIFF), a folder (searched recursively; relative paths
are kept under DIR), or a FER-format table: an .npz of (N, H, W) uint8 arrays, or a FER2013 CSV
(.csv or .csv.gz). Images are converted to the model's channels: grayscale for the FER2013
models, RGB for a model trained on a color image-folder dataset (an .npz then holds
(N, H, W, 3) arrays). `noise` works in grayscale. Outputs are 8-bit PNGs of the input's size.
Models are fully convolutional: an image of any size runs at its own size, mirror-padded to a
multiple of the model's downsampling factor (8 for a depth-3 U-Net) and cropped back. The
FER2013 models were trained on 48x48 faces, so that is where they do best.
"""

import argparse
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_denoise.errors import UserError
from fer_denoise.noise import to_uint8
from fer_denoise.stacks import like_input, with_channel_axis

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass
class Item:
    """One image to process: where it came from and where its PNG goes (relative to --out)."""

    source: str
    output: Path
    image: np.ndarray | None = None  # float32 (H, W) or (H, W, 3) in [0, 1], read lazily


class Failures:
    """Problems with single inputs: reported as they happen, summarised at the end."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, source: str, problem: str) -> None:
        self.items.append(f"{source}: {problem}")
        print(f"error: {source}: {problem}", file=sys.stderr)

    def summary(self, done: int) -> int:
        """Print the outcome; the exit status is 2 when anything failed."""
        print(f"{done} image(s) written, {len(self.items)} failure(s)", file=sys.stderr)
        for line in self.items:
            print(f"  failed: {line}", file=sys.stderr)
        return 2 if self.items else 0


PIL_MODES = {1: "L", 3: "RGB"}  # channels -> the PIL mode images are converted to and saved in


def read_image(path: Path, channels: int) -> np.ndarray:
    """A float image in [0, 1] with `channels` channels (grayscale (H, W) or RGB (H, W, 3));
    any other mode (palette, RGBA, grayscale for an RGB model) is converted."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert(PIL_MODES[channels]), np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"not a readable image ({error})") from error


def table_items(path: Path, channels: int, failures: Failures) -> Iterator[Item]:
    """Images of a FER-format .npz or CSV, written as <stem>/<array>/<index>.png."""
    from fer_denoise.fer2013 import read_fer2013

    stem = Path(path.name.split(".")[0])
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        else:
            arrays = {"images": read_fer2013(path).images}
    except (UserError, OSError, ValueError) as error:
        failures.add(str(path), f"not a FER-format table ({error})")
        return
    for name, array in arrays.items():
        if channels == 1 and array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        expected = "(N, H, W)" if channels == 1 else f"(N, H, W, {channels})"
        shape_ok = array.ndim == 3 if channels == 1 else array.shape[3:] == (channels,)
        if not shape_ok or array.dtype != np.uint8:
            failures.add(
                f"{path}:{name}",
                f"this model takes {'grayscale' if channels == 1 else 'RGB'} images: expected "
                f"uint8 {expected}, got {array.dtype} {array.shape}",
            )
            continue
        for index, image in enumerate(array):
            yield Item(
                f"{path}:{name}[{index}]",
                stem / name / f"{index:05d}.png",
                image.astype(np.float32) / 255.0,
            )


def collect(inputs: list[Path], channels: int, failures: Failures) -> Iterator[Item]:
    """Every image named by the inputs, in a stable order."""
    for path in inputs:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    yield Item(
                        str(file), Path(path.name) / file.relative_to(path).with_suffix(".png")
                    )
        elif not path.exists():
            failures.add(str(path), "no such file or folder")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            yield Item(str(path), Path(path.name).with_suffix(".png"))
        elif path.suffix == ".npz" or path.name.endswith((".csv", ".csv.gz")):
            yield from table_items(path, channels, failures)
        else:
            failures.add(
                str(path),
                f"unsupported format {path.suffix or '(no suffix)'}; give "
                f"images ({', '.join(IMAGE_SUFFIXES)}), a folder, an .npz or a FER2013 CSV",
            )


def loaded(items: Iterator[Item], channels: int, failures: Failures) -> Iterator[Item]:
    """The items with their pixels, skipping (and recording) unreadable files."""
    for item in items:
        if item.image is None:
            try:
                item.image = read_image(Path(item.source), channels)
            except UserError as error:
                failures.add(item.source, str(error))
                continue
        yield item


def write_png(path: Path, pixels: np.ndarray) -> None:
    """An 8-bit grayscale (H, W) or RGB (H, W, 3) PNG, encoded in memory, written atomically."""
    from PIL import Image

    from fer_denoise.files import write_bytes

    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, format="PNG")
    write_bytes(path, encoded.getvalue())


class Progress:
    """A counter on stderr: redrawn in a terminal, a line every 10% in a log."""

    def __init__(self, verb: str) -> None:
        self.verb, self.done, self.interactive = verb, 0, sys.stderr.isatty()

    def step(self) -> None:
        self.done += 1
        if self.interactive:
            print(f"\r{self.verb} {self.done}", end="", file=sys.stderr, flush=True)
        elif self.done % 1000 == 0:
            print(f"{self.verb} {self.done}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.interactive and self.done:
            print(file=sys.stderr)


def size_multiple(model) -> int:
    """The side lengths a U-Net accepts are multiples of 2 ** (its poolings)."""
    import keras

    return 2 ** sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers)


class Denoiser:
    """A saved model, rebuilt to accept any image size, applied in batches."""

    def __init__(self, model_file: Path, batch_size: int) -> None:
        import keras

        from fer_denoise.inference import load_model

        model = load_model(model_file)
        if model.output_shape != model.input_shape:
            raise UserError(
                f"{model_file} is not a denoiser (it maps {model.input_shape[1:]} to "
                f"{model.output_shape[1:]}); use models/<model>/<task>.keras"
            )
        self.channels = model.input_shape[-1]
        if self.channels not in PIL_MODES:
            raise UserError(
                f"{model_file} expects {self.channels} channels; "
                "fer-denoise denoises grayscale (1 channel) or RGB (3 channels) images"
            )
        config = model.get_config()
        for layer in config["layers"]:
            if layer["class_name"] == "InputLayer":
                layer["config"]["batch_shape"] = (None, None, None, self.channels)
        self.model = keras.Model.from_config(config)
        self.model.set_weights(model.get_weights())
        self.multiple, self.batch_size = size_multiple(model), batch_size

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Denoise a stack (N, H, W) or (N, H, W, C) of one size: pad to the multiple,
        predict, crop, clip."""
        height, width = images.shape[1:3]
        pad_h, pad_w = -height % self.multiple, -width % self.multiple
        padded = np.pad(
            with_channel_axis(images), ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="symmetric"
        )
        outputs = [
            np.asarray(self.model.predict_on_batch(padded[i : i + self.batch_size]))
            for i in range(0, len(padded), self.batch_size)
        ]
        cropped = np.concatenate(outputs)[:, :height, :width]
        return np.clip(like_input(cropped, images), 0.0, 1.0)


def run_in_batches(
    items: Iterator[Item], out: Path, transform, batch_size: int, progress: Progress
) -> int:
    """Group consecutive same-size images into batches, transform them, write PNGs.

    A writer thread encodes one batch's PNGs while the next batch is transformed: PIL and the
    backend both release the GIL, so the two overlap on two cores. At most one batch waits for
    the writer, so memory stays bounded however many images there are.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    written = 0
    batch: list[Item] = []
    writing: Future | None = None
    folders: set[Path] = set()  # output folders made so far

    def write(batch: list[Item], results: np.ndarray) -> None:
        for item, pixels in zip(batch, to_uint8(results), strict=True):
            path = out / item.output
            if path.parent not in folders:
                path.parent.mkdir(parents=True, exist_ok=True)
                folders.add(path.parent)
            write_png(path, pixels)
            progress.step()

    with ThreadPoolExecutor(max_workers=1) as writer:

        def flush() -> int:
            nonlocal writing
            results = transform(np.stack([item.image for item in batch]), batch)
            if writing:
                writing.result()  # the previous batch is written (a failed write raises here)
            writing = writer.submit(write, list(batch), results)
            batch.clear()
            return len(results)

        for item in items:
            if batch and (item.image.shape != batch[0].image.shape or len(batch) == batch_size):
                written += flush()
            batch.append(item)
        if batch:
            written += flush()
        if writing:
            writing.result()
    progress.close()
    return written


def command_denoise(arguments: argparse.Namespace) -> int:
    failures = Failures()
    denoiser = Denoiser(arguments.model, arguments.batch_size)
    channels = denoiser.channels
    items = loaded(collect(arguments.inputs, channels, failures), channels, failures)
    written = run_in_batches(
        items,
        arguments.out,
        lambda images, _: denoiser(images),
        arguments.batch_size,
        Progress("denoised"),
    )
    return failures.summary(written)


def command_noise(arguments: argparse.Namespace) -> int:
    from fer_denoise.noise import add_noise, resolve_spec, task_rng
    from fer_denoise.params import load_params, task_params

    params = load_params(arguments.params)
    spec = resolve_spec(task_params(params, arguments.task), params["noise"]["factor"])
    seed = params["noise"]["seed"] if arguments.seed is None else arguments.seed

    def noisy(images: np.ndarray, batch: list[Item]) -> list[np.ndarray]:
        # One generator per output path: an image's noise does not depend on its neighbours.
        return [
            add_noise(image, spec, task_rng(seed, arguments.task, str(item.output)))
            for image, item in zip(images, batch, strict=True)
        ]

    failures = Failures()
    items = loaded(collect(arguments.inputs, 1, failures), 1, failures)
    print(f"{arguments.task}: {spec}, seed {seed}", file=sys.stderr)
    written = run_in_batches(items, arguments.out, noisy, 256, Progress("noised"))
    return failures.summary(written)


def find_evaluation(model_file: Path, card: dict) -> dict | None:
    """This model's PrivateTest scores, when the model sits in a repository (models/...) or the
    command runs in one: a denoiser's from metrics/evaluate.json, the emotion classifier's on
    clean faces from metrics/recognition.json."""
    if card["model"] == "emotion_classifier":
        name, keys = "recognition.json", ["clean"]
    else:
        name, keys = "evaluate.json", [card["task"], card["model"]]
    folder = model_file.resolve().parent
    repository = folder.parent if folder.name == "models" else folder.parent.parent
    for root in (repository, Path.cwd()):
        metrics = root / "metrics" / name
        if metrics.is_file():
            scores = json.loads(metrics.read_text())
            for key in keys:
                scores = scores.get(key, {})
            if scores:
                return {"file": str(metrics), **scores}
    return None


def command_info(arguments: argparse.Namespace) -> int:
    from fer_denoise.inference import load_model
    from fer_denoise.model_card import read_card

    model_file = arguments.model
    model = load_model(model_file)
    try:
        card = read_card(model_file)
    except (OSError, ValueError) as error:
        raise UserError(f"{model_file}: unreadable model card ({error})") from error
    lines = [f"file: {model_file}", f"parameters: {model.count_params():,}"]
    if model.output_shape == model.input_shape:
        lines.append(f"size multiple: {size_multiple(model)} (images are padded to it)")
    if card is None:
        lines.append("no model card: this model was not trained by the fer-denoise pipeline")
    else:
        card["test"] = find_evaluation(model_file, card) or "not evaluated (run `dvc repro`)"
        lines += [f"{key}: {json.dumps(value)}" for key, value in card.items()]
    print("\n".join(lines))
    return 0


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="fer-denoise",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    commands = main_parser.add_subparsers(dest="command", required=True)

    denoise = commands.add_parser("denoise", help="denoise images with a trained model")
    denoise.add_argument("--model", type=Path, required=True, help="a .keras model file")
    denoise.add_argument("--batch-size", type=positive_int, default=256, help="images per batch")
    denoise.set_defaults(run=command_denoise)

    noise = commands.add_parser("noise", help="add a task's noise from params.yaml")
    noise.add_argument("--task", required=True, help="a task in params.yaml noise.tasks")
    noise.add_argument("--params", type=Path, default=Path("params.yaml"))
    noise.add_argument("--seed", type=int, help="default: noise.seed from the params")
    noise.set_defaults(run=command_noise)

    for command in (denoise, noise):
        command.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
        command.add_argument("--out", type=Path, required=True, help="output folder")

    info = commands.add_parser("info", help="what a model is and how well it scored")
    info.add_argument("model", type=Path)
    info.set_defaults(run=command_info)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        return arguments.run(arguments)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
