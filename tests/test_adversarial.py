"""The adversarial stage's step: both networks learn, each through its own optimizer."""

import keras
import numpy as np
import pytest

from fer_denoise.adversarial import AdversarialPair
from fer_denoise.models import build_model
from fer_denoise.models.patchgan import build_patchgan

SMALL = {"depth": 2, "base_filters": 4, "batch_norm": False, "residual": True}


def make_pair(learning_rate: float = 1e-3) -> AdversarialPair:
    keras.utils.set_random_seed(0)
    generator = build_model("attention_unet", (48, 48, 1), **SMALL)
    discriminator = build_patchgan((48, 48, 1), filters=4, downsamplings=3)
    return AdversarialPair(generator, discriminator, learning_rate, learning_rate, "mse", 1e-3, 0.1)


def tiny_batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    clean = np.kron(rng.random((8, 6, 6, 1)), np.ones((1, 8, 8, 1))).astype(np.float32)
    noisy = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    return noisy, clean


def copies(model: keras.Model) -> list[np.ndarray]:
    return [w.copy() for w in model.get_weights()]


def changed(before: list[np.ndarray], after: list[np.ndarray]) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_the_patchgan_returns_a_grid_of_logits():
    critic = build_patchgan((48, 48, 1), filters=4, downsamplings=3)
    images = np.zeros((2, 48, 48, 1), np.float32)
    assert critic.predict([images, images], verbose=0).shape == (2, 6, 6, 1)


def test_one_step_updates_both_networks_and_the_generator_optimizer_holds_only_its_own():
    pair = make_pair()
    generator_before, critic_before = copies(pair.generator), copies(pair.discriminator)
    losses = pair.step(*tiny_batch())
    assert set(losses) == {"d_loss", "g_loss", "content", "adversarial"}
    assert all(np.isfinite(value) for value in losses.values())
    assert changed(generator_before, pair.generator.get_weights())
    assert changed(critic_before, pair.discriminator.get_weights())
    trained_by_generator = {id(v) for v in pair.generator_trainer.trainable_variables}
    assert trained_by_generator == {id(v) for v in pair.generator.trainable_variables}
    for judge, critic in zip(
        pair.judge.get_weights(), pair.discriminator.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(judge, critic)


def test_the_content_loss_goes_down_over_a_few_steps():
    pair = make_pair(learning_rate=3e-3)
    noisy, clean = tiny_batch()
    content = [pair.step(noisy, clean)["content"] for _ in range(8)]
    assert content[-1] < 0.97 * content[0], content
    assert all(later < content[0] for later in content[1:]), content


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_the_generator_loss_adds_the_weighted_adversarial_term(weight):
    keras.utils.set_random_seed(0)
    generator = build_model("attention_unet", (48, 48, 1), **SMALL)
    critic = build_patchgan((48, 48, 1), filters=4, downsamplings=3)
    pair = AdversarialPair(generator, critic, 1e-3, 1e-3, "mse", weight, 0.0)
    losses = pair.step(*tiny_batch())
    expected = losses["content"] + weight * losses["adversarial"]
    assert losses["g_loss"] == pytest.approx(expected, rel=1e-4)
