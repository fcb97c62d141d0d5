from pathlib import Path

import keras
import numpy as np
import pytest

from fer_denoise.denoiser_training import COSINE_FLOOR, learning_rate
from fer_denoise.distribute import distribution_scope
from fer_denoise.models import build_model
from fer_denoise.noise import task_rng, to_uint8
from fer_denoise.params import load_params
from fer_denoise.training import NoisyBatches, PlateauSchedule, TrainingState, augment

CLEAN = to_uint8(np.random.default_rng(0).random((10, 48, 48)))
SPEC = {"type": "gaussian", "sigma": 0.1}


def batches(**kwargs) -> NoisyBatches:
    return NoisyBatches(CLEAN, SPEC, batch_size=4, seed=3, task="gaussian_low", **kwargs)


def test_batches_cover_every_image_once_per_epoch():
    feed = batches()
    assert len(feed) == 3
    seen = np.concatenate([feed[i][1] for i in range(len(feed))])
    assert seen.shape == (10, 48, 48, 1)
    assert sorted(map(bytes, seen)) == sorted(map(bytes, CLEAN[..., None] / np.float32(255)))


def test_fresh_noise_is_reproducible_and_new_every_epoch():
    first, again = batches(), batches()
    assert np.array_equal(first[0][0], again[0][0])
    noisy_epoch_one = first[0][0]
    first.start_at(1)
    assert not np.array_equal(first[0][0], noisy_epoch_one)


def test_fixed_noisy_set_is_used_when_fresh_noise_is_off():
    noisy = 255 - CLEAN
    noisy_batch, clean_batch = batches(noisy=noisy)[0]
    assert np.allclose(noisy_batch + clean_batch, 1.0, atol=1e-6)


def test_augmentation_flips_and_shifts_pairs_alike_and_leaves_the_noise_draws_alone():
    plain, flipped = batches(), batches(flip=True)
    noisy, clean = flipped[0]
    original = plain[0][1]
    mirrored = [np.array_equal(c, o[:, ::-1]) for c, o in zip(clean, original, strict=True)]
    kept = [np.array_equal(c, o) for c, o in zip(clean, original, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True)) and any(mirrored)
    # The noise is drawn as without augmentation: an image left unflipped gets the same noise.
    plain_noisy = plain[0][0]
    assert all(np.array_equal(noisy[i], plain_noisy[i]) for i in np.flatnonzero(kept))
    assert np.array_equal(noisy, batches(flip=True)[0][0])  # reruns repeat the augmentation
    # A fixed noisy set is flipped and shifted exactly like its clean images.
    fixed_noisy, fixed_clean = batches(noisy=255 - CLEAN, flip=True, shift=0.1)[0]
    assert np.allclose(fixed_noisy + fixed_clean, 1.0, atol=1e-6)


def test_shifts_move_the_image_within_the_limit():
    image = np.arange(48 * 48, dtype=np.float32).reshape(1, 48, 48, 1) / 2304
    rng = task_rng(0, "t", "shift")
    shifted = [augment(rng, (image,), flip=False, shift=0.1)[0] for _ in range(20)]
    assert any(not np.array_equal(s, image) for s in shifted)
    for s in shifted:  # an interior pixel lands within 5 pixels (0.1 * 48) of where it was
        where = np.argwhere(np.isclose(image[0, :, :, 0], s[0, 24, 24, 0]))
        assert np.abs(where - 24).max() <= 5


def test_a_training_step_runs_under_the_mirrored_strategy():
    with distribution_scope("mirrored") as replicas:
        model = build_model(
            "unet", (48, 48, 1), depth=2, base_filters=4, batch_norm=True, residual=True
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    assert replicas >= 1
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(batches(), epochs=1, shuffle=False, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


@pytest.mark.parametrize("distribute", ["none", "mirrored"])
def test_schedule_lowers_the_learning_rate_stops_and_restores_the_best_weights(distribute):
    with distribution_scope(distribute):
        model = build_model(
            "unet", (48, 48, 1), depth=1, base_filters=2, batch_norm=False, residual=True
        )
        model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    state = TrainingState()
    schedule = PlateauSchedule(state, stop_patience=2, lr_patience=1, lr_factor=0.5)
    schedule.set_model(model)
    schedule.on_epoch_end(0, {"val_loss": 1.0, "loss": 2.0})
    best = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 1 for w in best])
    schedule.on_epoch_end(1, {"val_loss": 1.5, "loss": 1.0})
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.05)
    assert not model.stop_training
    schedule.on_epoch_end(2, {"val_loss": 1.2, "loss": 0.5})
    assert model.stop_training and schedule.stopped_early()
    assert state.best_epoch == 1 and state.epochs_done == 3
    assert state.history["val_loss"] == [1.0, 1.5, 1.2]
    assert state.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05])
    assert state.learning_rate == pytest.approx(0.025)
    schedule.restore_best(model)
    for restored, saved in zip(model.get_weights(), best, strict=True):
        np.testing.assert_array_equal(restored, saved)


def test_cosine_tail_holds_the_rate_then_decays_over_the_last_quarter():
    committed = load_params(Path(__file__).parents[1] / "params.yaml").train
    train = committed.model_copy(update={"schedule": "cosine_tail"})
    rate = learning_rate(train, TrainingState(), 100)

    def at(step: int) -> float:
        return float(keras.ops.convert_to_numpy(rate(step)))

    start = train.learning_rate
    assert [at(step) for step in (0, 40, 74, 75)] == pytest.approx([start] * 4)
    assert start * 0.4 < at(87) < start * 0.6  # halfway down the tail
    assert at(100) == pytest.approx(start * COSINE_FLOOR)
    assert at(90) < at(80) < start
