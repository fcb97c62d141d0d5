import logging
import zipfile

import keras
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from fer_denoise.errors import UserError
from fer_denoise.inference import denoise, load_model
from fer_denoise.losses import get_loss, l1_ssim, psnr, psnr_loss, ssim
from fer_denoise.metrics import psnr_per_image
from fer_denoise.models import build_model
from fer_denoise.models.impulse import ImpulseFill, with_impulse_input, with_switching_output


@pytest.mark.parametrize(("depth", "residual"), [(1, True), (2, False), (4, True)])
def test_unet_keeps_the_input_shape(depth, residual):
    model = build_model(
        "unet", (48, 48, 1), depth=depth, base_filters=4, batch_norm=True, residual=residual
    )
    output = model.predict(np.zeros((3, 48, 48, 1), np.float32), verbose=0)
    assert output.shape == (3, 48, 48, 1)
    assert model.count_params() > 0


@pytest.mark.parametrize("name", ["unet", "attention_unet"])
def test_top_filters_widen_the_full_resolution_level_alone(name):
    model = build_model(name, (48, 48, 1), depth=2, base_filters=4, top_filters=10)
    filters = {layer.name: layer.filters for layer in model.layers if hasattr(layer, "filters")}
    full_resolution = ("down0_conv1", "down0_conv2", "up0", "dec0_conv1", "dec0_conv2")
    assert {filters[layer] for layer in full_resolution} == {10}
    assert filters["down1_conv2"] == filters["up1"] == 8
    assert filters["bottleneck_conv2"] == 16
    narrow = build_model(name, (48, 48, 1), depth=2, base_filters=4)
    assert narrow.get_layer("down0_conv2").filters == 4
    assert model.count_params() > narrow.count_params()


def registered_models() -> list[str]:
    from fer_denoise.models.registry import REGISTRY, architecture, extra_names

    for extra in extra_names():
        architecture(extra)
    return sorted(REGISTRY)


@pytest.mark.parametrize("shape", [(48, 48, 1), (128, 128, 3)])
@pytest.mark.parametrize("name", registered_models())
def test_every_registered_model_trains_a_step_and_keeps_the_input_shape(name, shape):
    """With its default settings (those params.yaml shows)."""
    model = build_model(name, shape)
    images = np.random.default_rng(0).random((2, *shape)).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(images, images)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert model.predict(images, verbose=0).shape == (2, *shape)


@pytest.mark.parametrize("name", registered_models())
def test_every_registered_model_loads_back_and_takes_sides_of_its_size_multiple(name, tmp_path):
    """A saved model loads in a fresh registry lookup (custom layers included), and the size
    multiple the registry states is one its layers accept."""
    from fer_denoise.models import architecture

    spec = architecture(name)
    side = 3 * spec.size_multiple(spec.settings())
    model = build_model(name, (side, side, 1))
    images = np.random.default_rng(2).random((2, side, side, 1)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert np.allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_dncnn_subtracts_the_noise_it_predicts():
    model = build_model("dncnn", (16, 16, 1), depth=3, width=4, batch_norm=False)
    for layer in model.layers:  # a network predicting zero noise returns its input
        if layer.name == "noise":
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    images = np.random.default_rng(1).random((2, 16, 16, 1)).astype(np.float32)
    assert np.allclose(model.predict(images, verbose=0), images)
    with pytest.raises(ValueError, match="greater than or equal to 2"):
        build_model("dncnn", (16, 16, 1), depth=1, width=4, batch_norm=False)


@pytest.mark.parametrize(
    ("name", "shape_settings"),
    [
        ("unet", {"depth": 2, "base_filters": 4}),
        ("attention_unet", {"depth": 2, "base_filters": 4}),
        ("dncnn", {"depth": 4, "width": 8}),
    ],
)
def test_a_batch_normalised_denoiser_starts_as_the_identity(name, shape_settings):
    """Its last block's features have unit variance: a random output layer would subtract
    noise of that size from every face."""
    images = np.random.default_rng(3).random((4, 16, 16, 1)).astype(np.float32)
    normalised = build_model(name, (16, 16, 1), batch_norm=True, **shape_settings)
    np.testing.assert_array_equal(normalised.predict(images, verbose=0), images)
    plain = build_model(name, (16, 16, 1), batch_norm=False, **shape_settings)
    assert not np.allclose(plain.predict(images, verbose=0), images)


def test_unet_rejects_a_size_the_poolings_cannot_halve():
    with pytest.raises(ValueError, match="not divisible"):
        build_model("unet", (50, 50, 1), depth=2, base_filters=4, batch_norm=False, residual=True)


def test_unknown_model_name_is_an_error():
    with pytest.raises(KeyError, match="unknown model"):
        build_model("resnet", (48, 48, 1))


def test_keras_ssim_matches_skimage():
    rng = np.random.default_rng(0)
    clean = rng.random((4, 48, 48)).astype(np.float32)
    noisy = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    expected = np.mean(
        [structural_similarity(c, n, data_range=1.0) for c, n in zip(clean, noisy, strict=True)]
    )
    value = float(keras.ops.convert_to_numpy(ssim(clean[..., None], noisy[..., None])))
    assert value == pytest.approx(expected, abs=1e-4)


def test_losses_are_zero_for_a_perfect_output_and_psnr_is_known():
    images = np.random.default_rng(0).random((2, 48, 48, 1)).astype(np.float32)
    for name in ("mse", "mae", "l1+ssim", "rmse"):
        assert float(get_loss(name)(images, images)) == pytest.approx(0.0, abs=1e-5)
    # the PSNR loss is minus the mean per-image PSNR, also when the faces' errors differ
    outputs = images + np.array([0.1, 0.01], np.float32)[:, None, None, None]
    assert float(get_loss("psnr")(images, outputs)) == pytest.approx(-30.0, abs=1e-3)
    mean_psnr = float(np.mean(psnr(images, outputs)))
    assert float(psnr_loss(images, outputs)) == pytest.approx(-mean_psnr)
    # the RMSE loss is the mean of the faces' RMSEs, not the RMSE of all pixels
    assert float(get_loss("rmse")(images, outputs)) == pytest.approx(0.055, abs=1e-5)
    assert float(l1_ssim(images, images + 0.1)) > 0.0
    assert np.allclose(keras.ops.convert_to_numpy(psnr(images, images + 0.1)), 20.0, atol=1e-3)


def test_the_psnr_metric_is_the_mean_per_image_psnr_whatever_the_batch_size():
    """Seven faces in batches of 4 end with a batch of 3: the metric must weigh faces, not
    batches."""
    rng = np.random.default_rng(1)
    clean = rng.random((7, 8, 8, 1)).astype(np.float32)
    noisy = clean + (0.01 * np.arange(1, 8, dtype=np.float32))[:, None, None, None]
    identity = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Identity()])
    identity.compile(loss="mse", metrics=[psnr])
    expected = float(psnr_per_image(clean, noisy).mean())
    for batch_size in (1, 4, 7):
        scores = identity.evaluate(noisy, clean, batch_size=batch_size, verbose=0, return_dict=True)
        assert scores["psnr"] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"plain text"])
def test_a_corrupt_model_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "unet.keras"
    path.write_bytes(content)
    with pytest.raises(UserError, match="unet.keras is not a Keras model that can be loaded"):
        load_model(path)
    with pytest.raises(UserError, match="does not exist"):
        load_model(tmp_path / "missing.keras")


def test_switching_output_replaces_only_impulse_pixels_and_survives_saving(tmp_path):
    model = with_switching_output(build_model("unet", (16, 16, 1), depth=2, base_filters=4))
    rng = np.random.default_rng(0)
    noisy = rng.integers(1, 255, (4, 16, 16, 1)).astype(np.float32) / 255
    impulse = rng.random(noisy.shape) < 0.1
    noisy[impulse] = rng.integers(0, 2, impulse.sum())
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.train_on_batch(noisy, np.full_like(noisy, 0.5))  # gradients reach the network
    restored = model.predict(noisy, verbose=0)
    assert np.array_equal(restored[~impulse], noisy[~impulse])
    assert not np.array_equal(restored[impulse], noisy[impulse])
    model.save(tmp_path / "switching.keras")
    reloaded = load_model(tmp_path / "switching.keras")
    assert np.array_equal(reloaded.predict(noisy, verbose=0), restored)


def test_impulse_fill_averages_the_known_neighbours_and_fills_clusters_from_outside():
    image = np.full((1, 6, 6, 1), 0.5, np.float32)
    image[0, 1, 1] = 0.0  # a lone impulse among 0.5s, beside one known 0.8
    image[0, 0, 0] = 0.8
    image[0, 3:6, 3:6] = 1.0  # a 3x3 block of impulses: its centre has no known neighbour
    filled, mask = (keras.ops.convert_to_numpy(t) for t in ImpulseFill()(image))
    assert filled[0, 1, 1, 0] == pytest.approx((0.8 + 7 * 0.5) / 8)
    assert filled[0, 4, 4, 0] == pytest.approx(0.5, abs=1e-6)  # reached on the second pass
    assert np.array_equal(mask > 0, (image == 0) | (image == 1))
    assert np.all((filled > 0) & (filled < 1))


def test_split_impulse_mask_says_which_pixels_are_at_1_and_which_at_0():
    image = np.full((1, 4, 4, 1), 0.5, np.float32)
    image[0, 0, 0], image[0, 1, 2], image[0, 3, 3] = 1.0, 0.0, 1.0
    _, mask = (keras.ops.convert_to_numpy(t) for t in ImpulseFill(split_mask=True)(image))
    assert mask.shape == (1, 4, 4, 2)
    assert np.array_equal(mask[..., 0], image[..., 0] == 1)
    assert np.array_equal(mask[..., 1], image[..., 0] == 0)


def test_a_model_saved_before_the_split_mask_loads_with_its_one_mask(tmp_path):
    noisy = keras.Input((8, 8, 1))
    filled, mask = ImpulseFill(name="impulse_fill")(noisy)
    features = keras.layers.Concatenate()([filled, mask])
    model = keras.Model(noisy, keras.layers.Conv2D(1, 3, padding="same")(features))
    model.save(tmp_path / "new.keras")
    with (
        zipfile.ZipFile(tmp_path / "new.keras") as new,
        zipfile.ZipFile(tmp_path / "old.keras", "w") as old,
    ):  # the config as it was written before `split_mask` existed
        for member in new.namelist():
            data = new.read(member)
            if member == "config.json":
                assert b'"split_mask": false' in data
                data = data.replace(b', "split_mask": false', b"")
            old.writestr(member, data)
    reloaded = load_model(tmp_path / "old.keras")
    assert reloaded.get_layer("impulse_fill").split_mask is False
    faces = np.random.default_rng(3).integers(0, 2, (2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(
        reloaded.predict(faces, verbose=0), model.predict(faces, verbose=0)
    )


def test_impulse_input_model_refines_only_impulses_and_survives_saving(tmp_path):
    body = dict(depth=2, base_filters=4, residual=False)
    model = with_switching_output(
        with_impulse_input(lambda shape: build_model("unet", shape, **body), (16, 16, 1))
    )
    assert model.name == "unet"
    rng = np.random.default_rng(1)
    noisy = rng.integers(1, 255, (4, 16, 16, 1)).astype(np.float32) / 255
    impulse = rng.random(noisy.shape) < 0.1
    noisy[impulse] = rng.integers(0, 2, impulse.sum())
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=psnr_loss)
    assert np.isfinite(model.train_on_batch(noisy, np.full_like(noisy, 0.5)))
    restored = model.predict(noisy, verbose=0)
    assert np.array_equal(restored[~impulse], noisy[~impulse])
    model.save(tmp_path / "impulse.keras")
    assert np.array_equal(
        load_model(tmp_path / "impulse.keras").predict(noisy, verbose=0), restored
    )


def test_flip_ensemble_averages_the_restorations_of_a_face_and_of_its_mirror_image():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3, padding="same")])
    rng = np.random.default_rng(2)
    model.set_weights([rng.uniform(0, 0.1, (3, 3, 1, 1)), np.zeros(1)])  # outputs in [0, 0.9]
    faces = rng.random((3, 8, 8)).astype(np.float32)
    plain, of_mirror = denoise(model, faces), denoise(model, faces[:, :, ::-1])[:, :, ::-1]
    assert not np.allclose(plain, of_mirror)  # the kernel is not symmetric
    np.testing.assert_allclose(denoise(model, faces, True), (plain + of_mirror) / 2, atol=1e-6)


def test_many_models_predicting_print_no_retracing_warning(caplog):
    """Each loaded model traces its own predict function, which TensorFlow reports as
    "retracing" after five models: the stages that run every model must not print it."""
    images = np.random.default_rng(0).random((5, 16, 16)).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for _ in range(7):
            denoise(build_model("unet", (16, 16, 1), depth=1, base_filters=2), images[:3])
            denoise(build_model("unet", (16, 16, 1), depth=1, base_filters=2), images)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
