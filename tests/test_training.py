import numpy as np

from fer_denoise.noise import to_uint8
from fer_denoise.training import NoisyBatches

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
    first.on_epoch_end()
    assert not np.array_equal(first[0][0], noisy_epoch_one)


def test_fixed_noisy_set_is_used_when_fresh_noise_is_off():
    noisy = 255 - CLEAN
    noisy_batch, clean_batch = batches(noisy=noisy)[0]
    assert np.allclose(noisy_batch + clean_batch, 1.0, atol=1e-6)
