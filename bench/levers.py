"""Probe training levers on one task before they go into the pipeline: each variant trains a
U-Net from the same seed on the same batches and prints its validation PSNR after every epoch.

Runs on any Keras backend (KERAS_BACKEND=jax on a GPU, tensorflow here), on data/prepared or on
an .npz with `train` and `val` uint8 arrays. The validation noise is fixed by the seed.

    python bench/levers.py --task salt_pepper --epochs 4 --train-images 4000 \
        --variants base fill fill_mask

`--ema 0.999` also scores, after every epoch, an exponential moving average of the weights
(updated after every step; training itself is unchanged, so one run gives both curves).
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fer_denoise.losses import psnr, psnr_loss  # noqa: E402
from fer_denoise.metrics import psnr_per_image  # noqa: E402
from fer_denoise.models import build_model  # noqa: E402
from fer_denoise.models import unet as unet_module  # noqa: E402
from fer_denoise.models.impulse import ImpulseFill, with_switching_output  # noqa: E402
from fer_denoise.models.unet import UNetSettings, u_net_layers  # noqa: E402
from fer_denoise.noise import add_noise, is_impulse, task_rng, to_float  # noqa: E402
from fer_denoise.training import NoisyBatches  # noqa: E402

TASKS = {
    "salt_pepper": {"type": "salt_pepper", "amount": 0.1},
    "gaussian_low": {"type": "gaussian", "sigma": 0.04},
    "gaussian_high": {"type": "gaussian", "sigma": 0.12},
    "gaussian_002": {"type": "gaussian", "sigma": 0.02},
    "gaussian_006": {"type": "gaussian", "sigma": 0.06},
}

# name: (input, loss, schedule, base_filters[, depth: 3[, top_filters: base_filters]]);
# schedule: constant, cosine (over the planned steps) or tail (constant, then a linear decay
# to zero over the last quarter);
# fill_sign: the masks of 1s and of 0s (the pipeline's impulse input), fill_mask: one mask of
# both; *_top<N>: N filters at full resolution (the U-Net's top_filters); *_unshuffle: the
# U-Net runs on 2x2 blocks of pixels stacked as channels (FFDNet's pixel-unshuffle), a level
# fewer, so base_filters at 24x24 cost what base_filters / 2 cost at 48x48
# (unshuffle<N>: the plain noisy input so, N base filters; _d<D>: depth D; d4: a fourth level);
# coords: the noisy face with two channels of its pixels' row and column (CoordConv), since
# FER2013's faces are aligned; global: the decoder's deepest level also sees the whole face
# through a fully connected bottleneck of 128 units (the face's global structure); zero_head:
# the output layer starts at zero, so the residual network starts as the identity;
# separable<N>: N base filters, each 3x3 convolution depthwise then 1x1 (MobileNet's), so
# width costs about a ninth of what it costs in full convolutions; mirror: the noisy face and
# its left-right mirror image as two channels, so each pixel sees its counterpart on the other
# side of the (aligned, roughly symmetric) face; mirror_levels: every skip connection also
# carries its mirror image; attention12: self-attention over the 12x12 skip connection's
# positions (content-based, non-local, as BM3D's block matching); silu / prelu: that
# activation in place of every ReLU (prelu: one learnt slope per channel); batch_norm: each
# convolution batch-normalised (the published Attention U-Net's blocks; the package's U-Net
# then starts its output layer at zero)
VARIANTS = {
    "base": ("noisy", "mse", "constant", 16),
    "fill": ("fill", "mse", "constant", 16),
    "fill_mask": ("fill_mask", "mse", "constant", 16),
    "fill_mask_cos": ("fill_mask", "mse", "cosine", 16),
    "fill_mask_psnr": ("fill_mask", "psnr", "constant", 16),
    "fill_mask_w32": ("fill_mask", "mse", "constant", 32),
    "fill_mask_psnr_cos": ("fill_mask", "psnr", "cosine", 16),
    "fill_psnr_cos": ("fill", "psnr", "cosine", 16),
    "fill_sign_psnr_cos": ("fill_sign", "psnr", "cosine", 16),
    "fill_sign_psnr_cos_d4": ("fill_sign", "psnr", "cosine", 16, 4),
    "fill_sign_psnr_cos_w24": ("fill_sign", "psnr", "cosine", 24),
    "fill_sign_psnr_cos_w32": ("fill_sign", "psnr", "cosine", 32),
    "fill_sign_psnr_cos_top24": ("fill_sign", "psnr", "cosine", 16, 3, 24),
    "fill_sign_psnr_cos_top32": ("fill_sign", "psnr", "cosine", 16, 3, 32),
    "fill_sign_psnr_cos_w12_top24": ("fill_sign", "psnr", "cosine", 12, 3, 24),
    "fill_sign_psnr_cos_w12_top32": ("fill_sign", "psnr", "cosine", 12, 3, 32),
    "fill_sign_psnr_cos_w8_top24": ("fill_sign", "psnr", "cosine", 8, 3, 24),
    "fill_sign_psnr_cos_w8_top32": ("fill_sign", "psnr", "cosine", 8, 3, 32),
    "fill_sign_psnr_cos_unshuffle32": ("fill_sign_unshuffle", "psnr", "cosine", 32, 2),
    "fill_sign_psnr_cos_unshuffle40": ("fill_sign_unshuffle", "psnr", "cosine", 40, 2),
    "cos": ("noisy", "mse", "cosine", 16),
    "psnr": ("noisy", "psnr", "constant", 16),
    "psnr_cos": ("noisy", "psnr", "cosine", 16),
    "w32": ("noisy", "mse", "constant", 32),
    "top32": ("noisy", "mse", "constant", 16, 3, 32),
    "w24_top16": ("noisy", "mse", "constant", 24, 3, 16),
    "tail": ("noisy", "mse", "tail", 16),
    "cos_w32": ("noisy", "mse", "cosine", 32),
    "d4": ("noisy", "mse", "constant", 16, 4),
    "unshuffle32_d3": ("noisy_unshuffle", "mse", "constant", 32, 3),
    "unshuffle40": ("noisy_unshuffle", "mse", "constant", 40, 2),
    "coords": ("noisy_coords", "mse", "constant", 16),
    "global": ("noisy_global", "mse", "constant", 16),
    "zero_head": ("noisy_zero_head", "mse", "constant", 16),
    "separable32": ("noisy_separable", "mse", "constant", 32),
    "separable48": ("noisy_separable", "mse", "constant", 48),
    "mirror": ("noisy_mirror", "mse", "constant", 16),
    "mirror_levels": ("noisy_mirror_levels", "mse", "constant", 16),
    "attention12": ("noisy_attention12", "mse", "constant", 16),
    "silu": ("noisy_silu", "mse", "constant", 16),
    "prelu": ("noisy_prelu", "mse", "constant", 16),
    "batch_norm": ("noisy_batch_norm", "mse", "constant", 16),
}


def unshuffle(x):
    """(N, H, W, C) -> (N, H/2, W/2, 4C): each 2x2 block of pixels as channels."""
    _, height, width, channels = x.shape
    x = ops.reshape(x, (-1, height // 2, 2, width // 2, 2, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, height // 2, width // 2, 4 * channels))


def shuffle(x):
    """The inverse of unshuffle."""
    _, height, width, channels = x.shape
    x = ops.reshape(x, (-1, height, width, 2, 2, channels // 4))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, 2 * height, 2 * width, channels // 4))


class SwappedLayers:
    """keras.layers with some of its constructors replaced: the U-Net's file builds from it, so
    swapping it in for one build gives the same U-Net made of other layers."""

    def __init__(self, **replacements):
        self.replacements = replacements

    def __getattr__(self, name):
        return self.replacements.get(name) or getattr(layers, name)


def separable_3x3(filters, size, **kw):
    """A SeparableConv2D (depthwise, then 1x1) where the U-Net asks for a 3x3 Conv2D."""
    conv = layers.SeparableConv2D if size == 3 else layers.Conv2D
    return conv(filters, size, **kw)


class Coordinates(layers.Layer):
    """Each pixel's row and column, scaled to [-1, 1], as two channels beside the input."""

    def call(self, x):
        height, width = x.shape[1], x.shape[2]
        rows = ops.repeat(ops.linspace(-1.0, 1.0, height)[:, None], width, axis=1)
        columns = ops.repeat(ops.linspace(-1.0, 1.0, width)[None, :], height, axis=0)
        grid = ops.stack([rows, columns], axis=-1)[None]
        grid = ops.broadcast_to(grid, (ops.shape(x)[0], height, width, 2))
        return ops.concatenate([x, ops.cast(grid, x.dtype)], axis=-1)


def global_context(skip, decoder, filters, level):
    """The deepest skip plus the whole face through a fully connected 128-unit bottleneck."""
    if level != 2:
        return skip
    code = layers.Dense(128, activation="relu")(layers.Flatten()(decoder))
    face = layers.Reshape(decoder.shape[1:])(layers.Dense(int(np.prod(decoder.shape[1:])))(code))
    return layers.Add()([skip, face])


def skip_with_mirror(skip, decoder, filters, level):
    """Each skip connection beside its left-right mirror image."""
    return layers.Concatenate()([skip, ops.flip(skip, axis=2)])


def non_local(skip, decoder, filters, level):
    """The 12x12 skip plus 4-head self-attention over its positions."""
    if level != 2:
        return skip
    side, channels = skip.shape[1], skip.shape[-1]
    tokens = layers.Reshape((side * side, channels))(skip)
    attended = layers.MultiHeadAttention(4, channels // 4)(tokens, tokens)
    return layers.Add()([skip, layers.Reshape(skip.shape[1:])(attended)])


def with_mirror_image(noisy):
    """The noisy face and its left-right mirror image as two channels."""
    return layers.Concatenate()([noisy, ops.flip(noisy, axis=2)])


# sources whose U-Net sees more channels than the noisy face (its output's first channel is the
# noise estimate), whose U-Net filters its skip connections (u_net_layers' `gate` hook), and
# whose U-Net is built from other layers (in place of keras.layers in the U-Net's file)
EXTRA_INPUTS = {
    "noisy_coords": lambda noisy: Coordinates()(noisy),
    "noisy_mirror": with_mirror_image,
}
GATES = {
    "noisy_global": global_context,
    "noisy_mirror_levels": skip_with_mirror,
    "noisy_attention12": non_local,
}
LAYER_SETS = {
    "noisy_separable": lambda: SwappedLayers(Conv2D=separable_3x3),
    "noisy_silu": lambda: SwappedLayers(Activation=lambda _, **kw: layers.Activation("silu", **kw)),
    "noisy_prelu": lambda: SwappedLayers(
        Activation=lambda _, **kw: layers.PReLU(shared_axes=[1, 2], **kw)
    ),
}


def build(variant: str, shape, spec) -> keras.Model:
    source, _, _, width, *shape_options = VARIANTS[variant]
    depth = shape_options[0] if shape_options else 3
    top = shape_options[1] if len(shape_options) > 1 else None
    noisy = keras.Input(shape=shape, name="noisy")
    if source == "noisy":
        body = build_model("unet", shape, base_filters=width, top_filters=top, depth=depth)
        model = body
    elif source == "noisy_zero_head":
        model = build_model("unet", shape, base_filters=width)
        for weight in model.get_layer("head").weights:
            weight.assign(ops.zeros_like(weight))
    elif source == "noisy_batch_norm":
        model = build_model("unet", shape, base_filters=width, batch_norm=True)
    elif source in LAYER_SETS:
        unet_module.layers = LAYER_SETS[source]()  # the U-Net's file builds from this
        try:
            model = build_model("unet", shape, base_filters=width)
        finally:
            unet_module.layers = layers
    elif source in GATES:
        settings = UNetSettings(base_filters=width)
        model = keras.Model(noisy, u_net_layers(noisy, settings, gate=GATES[source]))
    elif source in EXTRA_INPUTS:
        features = EXTRA_INPUTS[source](noisy)
        body = build_model("unet", features.shape[1:], base_filters=width, residual=False)
        model = keras.Model(noisy, layers.Subtract()([noisy, body(features)[..., :1]]))
    elif source == "noisy_unshuffle":
        body = build_model(
            "unet", (shape[0] // 2, shape[1] // 2, 4 * shape[2]), base_filters=width, depth=depth
        )
        model = keras.Model(noisy, shuffle(body(unshuffle(noisy))))
    elif source == "fill_sign_unshuffle":
        filled, mask = ImpulseFill(split_mask=True, name="fill")(noisy)
        features = layers.Concatenate()([unshuffle(filled), unshuffle(mask)])
        body = build_model(
            "unet", features.shape[1:], base_filters=width, depth=depth, residual=False
        )
        correction = shuffle(body(features)[..., :4])
        model = keras.Model(noisy, layers.Subtract()([filled, correction]))
    else:
        filled, mask = ImpulseFill(split_mask=source == "fill_sign", name="fill")(noisy)
        features = filled if source == "fill" else layers.Concatenate()([filled, mask])
        body = build_model(
            "unet",
            features.shape[1:],
            base_filters=width,
            top_filters=top,
            depth=depth,
            residual=False,
        )
        correction = body(features)[..., :1]
        model = keras.Model(noisy, layers.Subtract()([filled, correction]))
    return with_switching_output(model) if is_impulse(spec) else model


class TailDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A constant rate, then a linear decay to zero over the last `fraction` of the steps."""

    def __init__(self, rate: float, steps: int, fraction: float):
        self.rate, self.steps, self.fraction = rate, steps, fraction

    def __call__(self, step):
        remaining = (self.steps - ops.cast(step, "float32")) / (self.fraction * self.steps)
        return self.rate * ops.clip(remaining, 0.0, 1.0)


class WeightAverages(keras.callbacks.Callback):
    """Exponential moving averages of a model's weights, one per momentum, after every step."""

    def __init__(self, momenta: list[float]):
        super().__init__()
        self.momenta = momenta
        self.averages: dict[float, list] = {}

    def on_train_batch_end(self, batch, logs=None):
        weights = self.model.trainable_variables
        if not self.averages:
            self.averages = {m: [keras.Variable(w) for w in weights] for m in self.momenta}
            return
        for momentum, averages in self.averages.items():
            for average, weight in zip(averages, weights, strict=True):
                average.assign(momentum * average + (1 - momentum) * weight)

    def scored(self, score) -> dict[float, float]:
        """score() with each average in place of the weights, which are then put back."""
        weights = self.model.trainable_variables
        kept = [w.numpy() for w in weights]
        scores = {}
        for momentum, averages in self.averages.items():
            for weight, average in zip(weights, averages, strict=True):
                weight.assign(average)
            scores[momentum] = score()
        for weight, value in zip(weights, kept, strict=True):
            weight.assign(value)
        return scores


def load(path: Path, train_images: int, val_images: int):
    data = np.load(path)
    if "images" in data:
        images, split = data["images"], data["split"]
        train, val = images[split == "train"], images[split == "val"]
    else:
        train, val = data["train"], data["val"]
    return train[:train_images], val[:val_images]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/prepared/images.npz"))
    parser.add_argument("--task", choices=TASKS, default="salt_pepper")
    parser.add_argument("--variants", nargs="+", default=["base"], choices=VARIANTS)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-images", type=int, default=None)
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.002)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--ema", type=float, nargs="*", default=[], help="momenta to score")
    parser.add_argument("--json", type=Path, help="append one JSON line per variant here")
    arguments = parser.parse_args()

    spec = TASKS[arguments.task]
    train, val = load(arguments.data, arguments.train_images, arguments.val_images)
    clean_val = to_float(val)[..., None]
    noisy_val = add_noise(clean_val, spec, task_rng(arguments.seed, arguments.task, "val"))
    print(
        f"{keras.backend.backend()} {arguments.task} {spec}: {len(train)} training, "
        f"{len(val)} validation images, {arguments.epochs} epochs",
        flush=True,
    )
    for variant in arguments.variants:
        keras.utils.set_random_seed(arguments.seed)
        _, loss_name, schedule, *_ = VARIANTS[variant]
        batches = NoisyBatches(train, spec, arguments.batch_size, arguments.seed, arguments.task)
        steps = arguments.epochs * len(batches)
        rate = arguments.learning_rate
        if schedule == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(rate, steps, alpha=0.02)
        elif schedule == "tail":
            rate = TailDecay(rate, steps, fraction=0.25)
        model = build(variant, train.shape[1:] + (1,), spec)
        model.compile(
            optimizer=keras.optimizers.Adam(rate),
            loss=psnr_loss if loss_name == "psnr" else "mse",
            metrics=[psnr],
        )

        def score(model: keras.Model = model) -> float:
            restored = model.predict(noisy_val, batch_size=256, verbose=0)
            return round(float(psnr_per_image(clean_val, restored).mean()), 3)

        averages = WeightAverages(arguments.ema)
        curve, ema_curves, start = [], {m: [] for m in arguments.ema}, time.monotonic()
        for epoch in range(arguments.epochs):
            batches.start_at(epoch)
            model.fit(batches, epochs=1, shuffle=False, verbose=0, callbacks=[averages])
            curve.append(score())
            for momentum, value in averages.scored(score).items():
                ema_curves[momentum].append(value)
            emas = "".join(f", EMA {m}: {c[-1]:.3f}" for m, c in ema_curves.items())
            print(
                f"{variant} epoch {epoch + 1}: val PSNR {curve[-1]:.3f}{emas} "
                f"({time.monotonic() - start:.0f}s)",
                flush=True,
            )
        if arguments.json:
            with arguments.json.open("a") as out:
                row = {"task": arguments.task, "variant": variant, "curve": curve}
                row.update({f"ema_{m}": c for m, c in ema_curves.items()})
                row.update(seconds=round(time.monotonic() - start), params=model.count_params())
                out.write(json.dumps(row) + "\n")
        assert not math.isnan(curve[-1]), f"{variant} diverged"


if __name__ == "__main__":
    main()
