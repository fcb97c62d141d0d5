"""fer-denoise: apply the pipeline's trained models, and its noise, to your own images.

    fer-denoise denoise INPUT... --out DIR                 (the package's own models)
    fer-denoise denoise --model models/gan/salt_pepper.keras INPUT... --out DIR
    fer-denoise info [models/unet/salt_pepper.keras]
    fer-denoise noise --task salt_pepper INPUT... --out DIR

Without --model, `denoise` uses the models that come with the package: one blind denoiser per
noise family, trained for every level (Gaussian sigma 0-0.3, impulse amounts 0-0.3); with
`--noise auto` (the default) each image goes to the impulse model when it has isolated pixels
at exactly black and white, else to the Gaussian one, and the command says how many went where.

INPUT is an image file (PNG, JPEG, BMP, TIFF), a folder (searched recursively), or a
FER-format table: an .npz of (N, H, W) uint8 arrays, or a FER2013 CSV (.csv or .csv.gz).
Images are converted to the model's channels: grayscale for the FER2013 models, RGB for a
model trained on a color image-folder dataset (an .npz then holds (N, H, W, 3) arrays); 16-bit
images are scaled to 8 bits. `noise` works in grayscale. Outputs are 8-bit PNGs of the input's
size, at each input's path relative to the folder holding all inputs (a/x.jpg -> DIR/a/x.png;
a table t.npz -> DIR/t/<array>/<index>.png). Nothing is written outside DIR, and nothing when
DIR is inside an input folder, when an output would replace an input, or when two inputs
would give the same output (x.png and x.jpg; names that differ only in case count as the
same). An image may have at most 4096x4096 pixels; a table, 512 MiB.
Models are fully convolutional: an image of any size runs at its own size, mirror-padded to a
multiple of the model's downsampling factor (8 for a depth-3 U-Net) and cropped back. The
FER2013 models were trained on 48x48 faces, so that is where they do best.
"""

import argparse
import dataclasses
import io
import json
import os
import re
import sys
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from fer_denoise.errors import UserError
from fer_denoise.noise import to_uint8
from fer_denoise.stacks import like_input, with_channel_axis
from fer_denoise.untrusted import MAX_IMAGE_PIXELS, MAX_MEMBERS, MAX_TABLE_BYTES, decode_image, mib

POOLING_LAYERS = ("MaxPooling2D", "AveragePooling2D")  # a card-less model's downsamplings
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclasses.dataclass
class Item:
    """One image to process: where it came from and where its PNG goes (relative to --out)."""

    source: str
    output: Path
    pixels: np.ndarray | None = None  # uint8 (H, W) or (H, W, 3): a table's row, else None
    image: np.ndarray | None = None  # float32 in [0, 1], set only on the copy `loaded` yields


class Failures:
    """Problems with single inputs: reported as they happen, summarised at the end."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, source: str, problem: str) -> None:
        self.items.append(f"{source}: {problem}")
        print(f"error: {source}: {problem}", file=sys.stderr)

    def add_message(self, message: str) -> None:
        """A problem whose message already names the input."""
        self.items.append(message)
        print(f"error: {message}", file=sys.stderr)

    def summary(self, done: int) -> int:
        """Print the outcome; the exit status is 2 when anything failed."""
        print(f"{done} image(s) written, {len(self.items)} failure(s)", file=sys.stderr)
        for line in self.items:
            print(f"  failed: {line}", file=sys.stderr)
        return 2 if self.items else 0


PIL_MODES = {1: "L", 3: "RGB"}  # channels -> the PIL mode images are converted to and saved in
TABLE_SUFFIXES = (".npz", ".csv.gz", ".csv")
ARRAY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")  # an .npz array's name: a folder
BATCH_PIXELS = 1 << 22  # a batch holds at most this many pixels (or one image), bounding memory
TILE = 1024  # larger images are denoised in overlapping tiles of at most TILE x TILE pixels


COLOR_MODES = {"RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"}


def read_image(path: Path, channels: int, modes: Counter | None = None) -> np.ndarray:
    """A float image in [0, 1] with `channels` channels (grayscale (H, W) or RGB (H, W, 3));
    any other mode (palette, RGBA, 16-bit, grayscale for an RGB model) is converted. `modes`
    counts the files' own modes."""
    pixels = decode_image(path, str(path), channels, MAX_IMAGE_PIXELS, modes)
    return pixels.astype(np.float32) / 255.0


def absolute(path: Path) -> Path:
    """The path from the file system's root, with . and .. removed but links kept: outputs
    mirror the paths the user gave, not where links point."""
    return Path(os.path.abspath(path))


def table_stem(path: Path) -> str:
    """faces.v1.npz -> faces.v1, fer2013.csv.gz -> fer2013."""
    return next(path.name[: -len(s)] for s in TABLE_SUFFIXES if path.name.endswith(s))


def table_arrays(path: Path) -> Iterator[tuple[str, np.ndarray | str]]:
    """(name, images) of a FER-format table, or (name, problem) for an array it cannot use."""
    from fer_denoise.fer2013 import read_fer2013

    if not path.name.endswith(".npz"):
        yield "images", read_fer2013(path).images
        return
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise UserError(f"not a readable .npz ({error})") from error
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise UserError("a single .npy array, not an .npz archive; save it with np.savez")
    with data:
        if len(data.files) > MAX_MEMBERS:
            raise UserError(f"{len(data.files):,} arrays, above the limit of {MAX_MEMBERS:,}")
        members = set(data.zip.namelist())
        for name in data.files:
            if not ARRAY_NAME.fullmatch(name):
                yield (
                    name,
                    "the array's name is not a plain name (letters, digits, '_', '-' and '.', "
                    "not starting with '.' or '-'); it names an output folder: rename the array",
                )
                continue
            member = name if name in members else f"{name}.npy"
            size = data.zip.getinfo(member).file_size
            if size > MAX_TABLE_BYTES:
                yield name, f"{mib(size)}, above the limit of {mib(MAX_TABLE_BYTES)} per array"
                continue
            try:
                yield name, data[name]
            except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as error:
                yield name, f"not a readable array ({error})"


def table_items(path: Path, output: Path, channels: int, failures: Failures) -> Iterator[Item]:
    """Images of a FER-format .npz or CSV, written as <output>/<array>/<index>.png."""
    try:
        arrays = list(table_arrays(path))
    except UserError as error:
        failures.add(str(path), f"not a FER-format table ({error})")
        return
    for name, array in arrays:
        if isinstance(array, str):
            failures.add(f"{path}:{name!r}", array)
            continue
        if channels == 1 and array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        expected = "(N, H, W)" if channels == 1 else f"(N, H, W, {channels})"
        shape_ok = array.ndim == 3 if channels == 1 else array.shape[3:] == (channels,)
        if not shape_ok or array.dtype != np.uint8 or 0 in array.shape[1:]:
            failures.add(
                f"{path}:{name}",
                f"this model takes {'grayscale' if channels == 1 else 'RGB'} images: expected "
                f"uint8 {expected} with H, W >= 1, got {array.dtype} {array.shape}",
            )
            continue
        if array.shape[1] * array.shape[2] > MAX_IMAGE_PIXELS:
            failures.add(
                f"{path}:{name}",
                f"images of {array.shape[2]}x{array.shape[1]}, above the limit of "
                f"{MAX_IMAGE_PIXELS:,} pixels; downscale them",
            )
            continue
        for index, pixels in enumerate(array):
            yield Item(f"{path}:{name}[{index}]", output / name / f"{index:05d}.png", pixels)


def collect(inputs: list[Path], channels: int, failures: Failures) -> Iterator[Item]:
    """Every image named by the inputs, in a stable order. Outputs mirror each input's path
    relative to the folder that holds all the inputs (a/face.png and b/face.png stay apart)."""
    root = Path(os.path.commonpath([absolute(path).parent for path in inputs]))
    for path in inputs:
        mirrored = absolute(path).relative_to(root)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    yield Item(str(file), mirrored / file.relative_to(path).with_suffix(".png"))
        elif not path.exists():
            failures.add(str(path), "no such file or folder")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            yield Item(str(path), mirrored.with_suffix(".png"))
        elif path.name.endswith(TABLE_SUFFIXES):
            yield from table_items(path, mirrored.parent / table_stem(path), channels, failures)
        else:
            failures.add(
                str(path),
                f"unsupported format {path.suffix or '(no suffix)'}; give "
                f"images ({', '.join(IMAGE_SUFFIXES)}), a folder, an .npz or a FER2013 CSV",
            )


def checked_out(out: Path, inputs: list[Path]) -> Path:
    """The output folder, resolved; refused when it is a file or lies inside an input folder."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder (it is created if missing)")
    resolved = out.resolve()
    for path in inputs:
        if path.is_dir() and (resolved == path.resolve() or path.resolve() in resolved.parents):
            raise UserError(
                f"--out {out} is inside the input folder {path}: the outputs would mix with "
                "(and could replace) the inputs; choose an --out folder outside it"
            )
    return resolved


def plan(items: Iterator[Item], out: Path, resolved_out: Path) -> list[Item]:
    """The items, checked before anything is written: every output lands inside --out (links
    inside --out are followed), none replaces an input, and no two inputs share an output.
    Paths are compared as strings, each folder resolved once: pathlib costs more per image
    than writing its PNG."""
    real_folders: dict[str, str] = {}

    def in_real_folder(path: str) -> str:
        """The path with its folder's links resolved (once per folder), its own name kept."""
        folder, name = os.path.split(path)
        if folder not in real_folders:
            real_folders[folder] = os.path.realpath(folder)
        return os.path.join(real_folders[folder], name)

    def real(path: str) -> str:
        """The path with every link resolved, its own too if it is one."""
        joined = in_real_folder(path)
        return os.path.realpath(joined) if os.path.islink(joined) else joined

    def destination(relative: Path) -> str:  # the final name is replaced, not followed
        return in_real_folder(os.path.join(out, relative))

    inside = os.path.join(resolved_out, "")
    planned, sources, clashes, replaced = [], {}, [], []
    for item in items:
        target = destination(item.output)
        if not target.startswith(inside):
            raise UserError(
                f"{item.source} would be written to {target}, outside --out {out} (a link "
                "inside it points elsewhere); remove the link or choose another --out"
            )
        source = real(item.source) if item.pixels is None else item.source
        key = str(item.output).casefold()  # outputs that differ in case clash on macOS
        if key in sources:
            if sources[key][1] != source:
                clashes.append(f"{sources[key][0]} and {item.source} -> {item.output}")
            continue  # the same file named twice is written once
        sources[key] = (item.source, source)
        if source == target:
            replaced.append(item.source)
        planned.append(item)
    if replaced:
        raise UserError(
            f"the output would replace the input {replaced[0]}"
            + (f" (and {len(replaced) - 1} more)" if len(replaced) > 1 else "")
            + "; choose an --out folder that holds no input"
        )
    if clashes:
        raise UserError(
            f"{len(clashes)} output(s) would be written twice, nothing was written: "
            + "; ".join(clashes[:5])
            + ". Rename one of each pair, or process them in separate runs"
        )
    return planned


def planned(inputs: list[Path], out: Path, channels: int, failures: Failures) -> list[Item]:
    """What a run will write, checked (see plan) before anything is."""
    items = plan(collect(inputs, channels, failures), out, checked_out(out, inputs))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"cannot create the output folder {out} ({error.strerror}); choose a writable --out"
        ) from error
    return items


def loaded(items: list[Item], channels: int, failures: Failures) -> Iterator[Item]:
    """Copies of the items with their float pixels, skipping (and recording) unreadable files;
    at the end, a note of how many color images a grayscale model had converted. The planned
    list keeps no pixels, so memory does not grow with the number of images."""
    modes: Counter = Counter()
    for item in items:
        if item.pixels is not None:
            image = item.pixels.astype(np.float32) / 255.0
        else:
            try:
                image = read_image(Path(item.source), channels, modes)
            except UserError as error:
                failures.add_message(str(error))
                continue
        yield dataclasses.replace(item, image=image)
    converted = sum(count for mode, count in modes.items() if mode in COLOR_MODES)
    if channels == 1 and converted:
        print(
            f"note: {converted} color image(s) converted to grayscale: this model takes "
            "grayscale faces",
            file=sys.stderr,
        )


def write_png(path: Path, pixels: np.ndarray) -> None:
    """An 8-bit grayscale (H, W) or RGB (H, W, 3) PNG, encoded in memory, written atomically."""
    from PIL import Image

    from fer_denoise.files import write_bytes

    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, format="PNG")
    write_bytes(path, encoded.getvalue())


class Progress:
    """Progress on stderr: a bar with the count, rate and time left in a terminal (tqdm); in a
    log, a plain line at every tenth of the images."""

    def __init__(self, verb: str, total: int) -> None:
        from tqdm import tqdm

        self.verb, self.total, self.done = verb, total, 0
        self.began, self.next_line = time.monotonic(), max(1, total // 10)
        self.bar = (
            tqdm(total=total, desc=verb, unit="img", file=sys.stderr)
            if sys.stderr.isatty()
            else None
        )

    def step(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update()
        elif self.done >= self.next_line or self.done == self.total:
            self.next_line += max(1, self.total // 10)
            rate = self.done / max(time.monotonic() - self.began, 1e-9)
            left = (self.total - self.done) / rate
            print(
                f"{self.verb} {self.done}/{self.total} ({rate:.0f} img/s, {left:.0f} s left)",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def size_multiple(card: dict | None, layer_classes: Iterable[str]) -> int:
    """The side lengths a model accepts are multiples of this: the pipeline's models carry it in
    their card (from the model registry); for a model saved by other code it is guessed as
    2 ** (its 2x2 poolings)."""
    if card and "size_multiple" in card:
        return int(card["size_multiple"])
    return 2 ** sum(name in POOLING_LAYERS for name in layer_classes)


def open_input_sizes(config: dict) -> None:
    """Let a functional model's config take any height and width: every input layer's, the
    inputs of nested models (an impulse model's body) included."""
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            channels = layer["config"]["batch_shape"][-1]
            layer["config"]["batch_shape"] = (None, None, None, channels)
        elif "layers" in layer.get("config", {}):
            open_input_sizes(layer["config"])


class Denoiser:
    """A saved model, rebuilt to accept any image size, applied in batches."""

    def __init__(self, model_file: Path, batch_size: int, flip_ensemble: bool = False) -> None:
        import keras

        from fer_denoise.inference import load_model
        from fer_denoise.model_card import read_card

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
        open_input_sizes(config)
        self.model = keras.Model.from_config(config)
        self.model.set_weights(model.get_weights())
        try:
            card = read_card(model_file) if zipfile.is_zipfile(model_file) else None
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise UserError(
                f"{model_file}: unreadable model card ({error}); the file was changed after "
                "training: retrain it with `dvc repro`"
            ) from error
        self.multiple = size_multiple(card, (type(layer).__name__ for layer in model.layers))
        self.batch_size, self.flip_ensemble = batch_size, flip_ensemble

    def predict(self, padded: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                np.asarray(self.model.predict_on_batch(padded[i : i + self.batch_size]))
                for i in range(0, len(padded), self.batch_size)
            ]
        )

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Denoise a stack (N, H, W) or (N, H, W, C) of one size: pad to the multiple,
        predict, crop, clip. Images above TILE x TILE pixels go through in tiles."""
        height, width = images.shape[1:3]
        if height * width > TILE * TILE:
            return np.stack([self.tiled(image) for image in images])
        pad_h, pad_w = -height % self.multiple, -width % self.multiple
        padded = np.pad(
            with_channel_axis(images), ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="symmetric"
        )
        output = self.predict(padded)
        if self.flip_ensemble:  # the mean with the restoration of the mirrored image
            output = (output + self.predict(padded[:, :, ::-1])[:, :, ::-1]) / 2
        cropped = output[:, :height, :width]
        return np.clip(like_input(cropped, images), 0.0, 1.0)

    def tiled(self, image: np.ndarray) -> np.ndarray:
        """One large image denoised in overlapping tiles of at most TILE x TILE pixels, so that
        memory does not grow with the image (a 4096x4096 image at once took 7.2 GB). Each tile
        keeps only its core: the margin around it gives the network the context it would have
        had in the whole image, and tiles start on the model's pooling grid, so the result
        matches denoising the whole image at once."""
        margin = min(max(32, 8 * self.multiple), TILE // 4)
        core = TILE - 2 * margin
        output = np.empty(image.shape, np.float32)
        height, width = image.shape[:2]
        for top in range(0, height, core):
            for left in range(0, width, core):
                y0, x0 = max(0, top - margin), max(0, left - margin)
                tile = image[y0 : top + core + margin, x0 : left + core + margin]
                denoised = self(tile[None])[0]
                output[top : top + core, left : left + core] = denoised[
                    top - y0 : top - y0 + core, left - x0 : left - x0 + core
                ]
        return output


def run_in_batches(
    items: Iterator[Item], out: Path, transform, batch_size: int, progress: Progress
) -> int:
    """Group consecutive same-size images into batches (at most `batch_size` images and
    BATCH_PIXELS pixels, or one image), transform them, write PNGs.

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
            try:
                if path.parent not in folders:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    folders.add(path.parent)
                write_png(path, pixels)
            except OSError as error:
                raise UserError(
                    f"cannot write {path} ({error.strerror or error}); {progress.done} image(s) "
                    "were written before it. Free some space, or choose a writable --out"
                ) from error
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
            if batch and (
                item.image.shape != batch[0].image.shape
                or len(batch) == batch_size
                or (len(batch) + 1) * item.image[..., 0].size > BATCH_PIXELS
            ):
                written += flush()
            batch.append(item)
        if batch:
            written += flush()
        if writing:
            writing.result()
    progress.close()
    return written


class ShippedDenoisers:
    """The package's blind models: one noise family for every image (`--noise <family>`), or
    each image's family detected from its pixels (`--noise auto`)."""

    def __init__(self, noise: str, batch_size: int, flip_ensemble: bool) -> None:
        from fer_denoise.shipped import shipped_model, shipped_models

        families = (list(shipped_models()) or ["gaussian"]) if noise == "auto" else [noise]
        self.denoisers = {
            family: Denoiser(shipped_model(family), batch_size, flip_ensemble)
            for family in families
        }
        self.auto, self.chosen = noise == "auto", Counter()
        self.channels = next(iter(self.denoisers.values())).channels

    def __call__(self, images: np.ndarray) -> np.ndarray:
        from fer_denoise.detect import noise_family

        if not self.auto:
            family = next(iter(self.denoisers))
            self.chosen[family] += len(images)
            return self.denoisers[family](images)
        families = np.array([noise_family(image) for image in images])
        output = np.empty(images.shape, np.float32)
        for detected in np.unique(families):
            rows = families == detected
            # A package without a model for the detected family falls back to any it has.
            family = detected if detected in self.denoisers else next(iter(self.denoisers))
            output[rows] = self.denoisers[family](images[rows])
            self.chosen[family] += int(rows.sum())
        return output

    def report(self) -> None:
        done = ", ".join(f"{count} by the {name} model" for name, count in self.chosen.items())
        how = "detected per image (--noise auto)" if self.auto else "chosen with --noise"
        print(f"restored {done or 'nothing'}: the package's blind models, {how}", file=sys.stderr)


def command_denoise(arguments: argparse.Namespace) -> int:
    failures = Failures()
    if arguments.model is None:
        denoiser = ShippedDenoisers(
            arguments.noise or "auto", arguments.batch_size, arguments.flip_ensemble
        )
    elif arguments.noise is not None:
        raise UserError("--noise picks one of the package's models: leave it out with --model")
    else:
        denoiser = Denoiser(arguments.model, arguments.batch_size, arguments.flip_ensemble)
    channels = denoiser.channels
    items = planned(arguments.inputs, arguments.out, channels, failures)
    written = run_in_batches(
        loaded(items, channels, failures),
        arguments.out,
        lambda images, _: denoiser(images),
        arguments.batch_size,
        Progress("denoised", len(items)),
    )
    if isinstance(denoiser, ShippedDenoisers):
        denoiser.report()
    return failures.summary(written)


def command_noise(arguments: argparse.Namespace) -> int:
    from fer_denoise.noise import add_noise, task_rng
    from fer_denoise.params import load_params

    params = load_params(arguments.params)
    spec = params.spec(arguments.task)
    seed = params.noise.seed if arguments.seed is None else arguments.seed

    def noisy(images: np.ndarray, batch: list[Item]) -> list[np.ndarray]:
        # One generator per output path: an image's noise does not depend on its neighbours.
        return [
            add_noise(image, spec, task_rng(seed, arguments.task, str(item.output)))
            for image, item in zip(images, batch, strict=True)
        ]

    failures = Failures()
    items = planned(arguments.inputs, arguments.out, 1, failures)
    print(f"{arguments.task}: {spec}, seed {seed}", file=sys.stderr)
    written = run_in_batches(
        loaded(items, 1, failures), arguments.out, noisy, 256, Progress("noised", len(items))
    )
    return failures.summary(written)


def find_evaluation(model_file: Path, card: dict) -> dict | None:
    """This model's PrivateTest scores, when the model sits in a repository (models/...) or the
    command runs in one: a denoiser's from metrics/evaluate.json (a blind model's on each task
    of its noise family), the emotion classifier's on clean faces from
    metrics/recognition.json."""
    name = "recognition.json" if card["model"] == "emotion_classifier" else "evaluate.json"
    models = next((p for p in model_file.resolve().parents if p.name == "models"), None)
    for root in ([models.parent] if models else []) + [Path.cwd()]:
        metrics = root / "metrics" / name
        if not metrics.is_file():
            continue
        scores = json.loads(metrics.read_text())
        if card["model"] == "emotion_classifier":
            found = scores.get("clean", {})
        elif "family" in card:
            found = {
                task: by_model["blind"]
                for task, by_model in scores.items()
                if "blind" in by_model and task_family(root, task) in (card["family"], None)
            }
        else:
            found = scores.get(card["task"], {}).get(card["model"], {})
        if found:
            return {"file": str(metrics), **found}
    return None


def task_family(root: Path, task: str) -> str | None:
    """The noise family of a task of the repository at `root`, or None if its params do not
    say (then a blind model's scores on it are shown)."""
    from fer_denoise.params import load_params

    try:
        return load_params(root / "params.yaml").task(task).family()
    except UserError:
        return None


def saved_layer_classes(model_file: Path) -> list[str]:
    """The class names of a saved functional model's layers, read from the config inside the
    .keras file: no TensorFlow needed."""
    with zipfile.ZipFile(model_file) as archive:
        config = json.loads(archive.read("config.json"))
    return [layer["class_name"] for layer in config["config"]["layers"]]


def command_info(arguments: argparse.Namespace) -> int:
    """Describe a model, or without one the package's own models."""
    if arguments.model is not None:
        return describe_model(arguments.model)
    from fer_denoise.shipped import WEIGHTS, shipped_models

    models = shipped_models()
    if not models:
        raise UserError(f"the package has no models of its own in {WEIGHTS}: name a model file")
    for index, model_file in enumerate(models.values()):
        if index:
            print()
        describe_model(model_file)
    return 0


def describe_model(model_file: Path) -> int:
    """Print what a model is. The pipeline's models carry what to say in their card and
    config, so only other models are loaded, which takes TensorFlow's start-up (about 5 s)."""
    from fer_denoise.model_card import read_card

    card = None
    if model_file.is_file() and zipfile.is_zipfile(model_file):
        try:
            card = read_card(model_file)
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise UserError(
                f"{model_file}: unreadable model card ({error}); the file was changed after "
                "training: retrain it with `dvc repro`"
            ) from error
    try:
        parameters, denoiser = card["parameters"], "noise" in card
        layer_classes = saved_layer_classes(model_file)
    except (TypeError, KeyError, ValueError, zipfile.BadZipFile):  # not a card of the pipeline
        from fer_denoise.inference import load_model

        model = load_model(model_file)
        parameters, denoiser = model.count_params(), model.output_shape == model.input_shape
        layer_classes = [type(layer).__name__ for layer in model.layers]
    lines = [f"file: {model_file}", f"parameters: {parameters:,}"]
    if denoiser:
        multiple = size_multiple(card, layer_classes)
        lines.append(f"size multiple: {multiple} (images are padded to it)")
    if card is None:
        lines.append("no model card: this model was not trained by the fer-denoise pipeline")
    else:
        card["test"] = find_evaluation(model_file, card) or "not evaluated (run `dvc repro`)"
        lines += [
            f"{key}: {json.dumps(value)}" for key, value in card.items() if key != "parameters"
        ]
    print("\n".join(lines))
    return 0


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


EXAMPLES = {
    "denoise": """examples:
  fer-denoise denoise face.png --out denoised/
  fer-denoise denoise --noise impulse photos/ --out denoised/
  fer-denoise denoise --model models/unet/gaussian_low.keras face.png --out denoised/
  fer-denoise denoise --model models/gan/salt_pepper.keras photos/ faces.npz --out denoised/""",
    "noise": """examples:
  fer-denoise noise --task salt_pepper photos/ --out noisy/
  fer-denoise noise --task gaussian_high --seed 7 face.png --out noisy/""",
    "info": """examples:
  fer-denoise info
  fer-denoise info models/attention_unet/gaussian_high.keras""",
}
INPUT_HELP = (
    "image files, folders (searched recursively), .npz arrays or FER2013 CSVs; outputs keep "
    "each one's path below the folder holding them all"
)


def parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    main_parser = argparse.ArgumentParser(
        prog="fer-denoise",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    main_parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version('fer-denoise')}"
    )
    commands = main_parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    denoise = command("denoise", "denoise images with the package's models or a trained one")
    denoise.add_argument(
        "--model",
        type=Path,
        help="a .keras model trained by the pipeline (models/<model>/<task>.keras); without "
        "it, the package's blind models",
    )
    denoise.add_argument(
        "--noise",
        choices=("auto", "gaussian", "impulse"),
        help="which of the package's models: auto (the default) detects impulse noise in each "
        "image",
    )
    denoise.add_argument(
        "--batch-size", type=positive_int, default=256, help="images per model call (256)"
    )
    denoise.add_argument(
        "--flip-ensemble",
        action="store_true",
        help="average each restoration with that of the mirrored image, as `evaluate` scores "
        "the models (twice the time)",
    )
    denoise.set_defaults(run=command_denoise)

    noise = command("noise", "add a task's noise from params.yaml, as the pipeline does")
    noise.add_argument("--task", required=True, help="a task of noise.tasks in the params")
    noise.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="the params file that defines the task (./params.yaml)",
    )
    noise.add_argument("--seed", type=int, help="the noise seed (noise.seed of the params)")
    noise.set_defaults(run=command_noise)

    for subcommand in (denoise, noise):
        subcommand.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help=INPUT_HELP)
        subcommand.add_argument(
            "--out",
            type=Path,
            required=True,
            help="the folder the PNGs go to (created if missing; not inside an input folder)",
        )

    info = command("info", "what a model is, how it was trained and how well it scored")
    info.add_argument(
        "model", type=Path, nargs="?", help="a .keras model file (without it: the package's)"
    )
    info.set_defaults(run=command_info)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        return arguments.run(arguments)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`fer-denoise info M | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
