"""Attention gates, and transfer: a curriculum task really starts from the model it names."""

import keras
import numpy as np
import pytest

from fer_denoise.errors import UserError
from fer_denoise.models import build_model
from fer_denoise.models.attention_unet import attention_gate
from fer_denoise.models.patchgan import build_patchgan
from fer_denoise.transfer import freeze_encoder, seed_from

SMALL = {"depth": 2, "base_filters": 4, "batch_norm": False, "residual": True}


@pytest.mark.parametrize(
    ("skip", "decoder"), [((24, 24, 8), (24, 24, 8)), ((12, 12, 16), (12, 12, 32))]
)
def test_an_attention_gate_keeps_the_skip_shape_and_starts_open(skip, decoder):
    x, g = keras.Input(shape=skip), keras.Input(shape=decoder)
    gate = keras.Model([x, g], attention_gate(x, g, 4, "gate"))
    rng = np.random.default_rng(0)
    skip_values = rng.random((2, *skip)).astype(np.float32)
    gated = gate.predict([skip_values, rng.random((2, *decoder)).astype(np.float32)], verbose=0)
    assert gated.shape == (2, *skip)
    # psi starts at zero weights and bias 3: every pixel passes sigmoid(3) of the skip.
    np.testing.assert_allclose(gated, skip_values / (1 + np.exp(-3.0)), rtol=1e-5)


@pytest.mark.parametrize(("depth", "shape"), [(1, (48, 48, 1)), (3, (48, 48, 1)), (2, (64, 64, 3))])
def test_attention_unet_keeps_the_input_shape_and_has_a_gate_per_level(depth, shape):
    model = build_model("attention_unet", shape, **{**SMALL, "depth": depth})
    output = model.predict(np.zeros((2, *shape), np.float32), verbose=0)
    assert output.shape == (2, *shape)
    assert {layer.name for layer in model.layers} >= {f"gate{level}_psi" for level in range(depth)}


def weights_by_layer(model: keras.Model) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


@pytest.mark.parametrize("widths", [{}, {"top_filters": 6}])
def test_a_unet_seeds_every_attention_unet_layer_it_shares(tmp_path, widths):
    unet = build_model("unet", (48, 48, 1), **SMALL, **widths)
    unet.save(tmp_path / "unet.keras")
    attention = build_model("attention_unet", (48, 48, 1), **SMALL, **widths)
    untouched = weights_by_layer(attention)

    copied = seed_from(attention, keras.saving.load_model(tmp_path / "unet.keras"), tmp_path)

    seeded, source = weights_by_layer(attention), weights_by_layer(unet)
    assert set(copied) == set(source) and not any(name.startswith("gate") for name in copied)
    for name in copied:
        for seeded_array, source_array in zip(seeded[name], source[name], strict=True):
            np.testing.assert_array_equal(seeded_array, source_array)
    for name in set(seeded) - set(copied):  # the gates keep their own initial weights
        for seeded_array, initial in zip(seeded[name], untouched[name], strict=True):
            np.testing.assert_array_equal(seeded_array, initial)


def test_a_model_with_no_matching_layer_cannot_seed(tmp_path):
    attention = build_model("attention_unet", (48, 48, 1), **SMALL)
    with pytest.raises(UserError, match="shares no layer"):
        seed_from(attention, build_patchgan((48, 48, 1), 4, 2), tmp_path / "critic.keras")
    wider = build_model("unet", (48, 48, 1), **{**SMALL, "base_filters": 8})
    with pytest.raises(UserError, match="shares no layer"):
        seed_from(attention, wider, tmp_path / "wider.keras")


def test_freezing_the_encoder_keeps_it_fixed_while_the_decoder_trains():
    model = build_model("attention_unet", (48, 48, 1), **SMALL)
    freeze_encoder(model, True)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = weights_by_layer(model)
    images = np.random.default_rng(0).random((4, 48, 48, 1)).astype(np.float32)
    for _ in range(3):  # theta and phi get gradients once psi has left its zero start
        model.train_on_batch(images, images * 0.5)
    after = weights_by_layer(model)
    for name in before:
        changed = any(
            not np.array_equal(a, b) for a, b in zip(before[name], after[name], strict=True)
        )
        assert changed == (not name.startswith(("down", "bottleneck"))), name
