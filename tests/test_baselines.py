import numpy as np
import pytest

from fer_denoise.baselines import (
    TUNED_FILTERS,
    apply_filter,
    classical_baseline,
    impulse_mask,
    median_3x3,
    noise_sigma,
    switching_median,
    tune,
)
from fer_denoise.metrics import psnr_per_image


def smooth_image() -> np.ndarray:
    y, x = np.mgrid[0:48, 0:48]
    return (0.2 + 0.6 * (x + y) / 94).astype(np.float32)[None]


def test_median_removes_an_isolated_impulse():
    image = smooth_image()
    noisy = image.copy()
    noisy[0, 20, 20] = 1.0
    assert abs(median_3x3(noisy)[0, 20, 20] - image[0, 20, 20]) < 0.02


def test_switching_median_changes_only_impulse_pixels():
    image = smooth_image()
    noisy = image.copy()
    noisy[0, 10, 10], noisy[0, 30, 5] = 0.0, 1.0
    restored = switching_median(noisy, guard=3)
    changed = restored != noisy
    assert changed.sum() == 2 and changed[0, 10, 10] and changed[0, 30, 5]
    assert abs(restored[0, 10, 10] - image[0, 10, 10]) < 0.02


def test_guard_keeps_saturated_regions_that_the_plain_switch_would_repair():
    image = smooth_image()
    image[0, :, :12] = 1.0  # a saturated band, as in overexposed FER2013 faces
    assert not impulse_mask(image, guard=3)[0, 5:40, 1:11].any()
    assert impulse_mask(image, guard=0)[0, 5:40, 1:11].all()
    assert np.array_equal(switching_median(image, guard=3), image)


def test_the_baseline_suits_the_noise_type():
    image = smooth_image()
    assert classical_baseline("salt_pepper", image, 3)[0] == "switching_median"
    assert classical_baseline("gaussian", image, 3)[0] == "median_3x3"


def faces_with_noise(sigma: float, count: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Smooth synthetic 'faces' (a gradient with a bright disc) and a Gaussian-noised copy."""
    y, x = np.mgrid[0:48, 0:48]
    disc = ((y - 24) ** 2 + (x - 24) ** 2 < 12**2).astype(np.float32)
    rng = np.random.default_rng(0)
    clean = np.stack([0.2 + 0.3 * (x + y) / 94 + (0.2 + 0.1 * i) * disc for i in range(count)])
    noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 1).astype(np.float32)
    return clean.astype(np.float32), noisy


def test_the_blind_sigma_estimate_follows_the_noise():
    _, noisy = faces_with_noise(0.1, count=1)
    assert noise_sigma(noisy[0]) == pytest.approx(0.1, rel=0.2)
    assert noise_sigma(np.full((48, 48), 0.5)) > 0  # a flat image must not give sigma 0


@pytest.mark.parametrize("name", sorted(TUNED_FILTERS))
def test_each_tuned_filter_improves_gaussian_noise_and_keeps_the_shape(name):
    clean, noisy = faces_with_noise(0.1, count=2)
    setting = {"gaussian_blur": 1.0, "tv_chambolle": 0.1}.get(name, 1.0)
    restored = apply_filter(name, noisy, setting)
    assert restored.shape == noisy.shape and restored.dtype == np.float32
    assert restored.min() >= 0 and restored.max() <= 1
    assert psnr_per_image(clean, restored).mean() > psnr_per_image(clean, noisy).mean() + 2


def test_tuning_picks_the_setting_with_the_best_psnr_and_reports_every_one():
    clean, noisy = faces_with_noise(0.1)
    chosen, scores = tune("gaussian_blur", [0.01, 1.0, 6.0], noisy, clean)
    assert list(scores) == [0.01, 1.0, 6.0]
    assert chosen == 1.0 and scores[1.0] == max(scores.values())
    restored = apply_filter("gaussian_blur", noisy, 1.0)
    assert scores[1.0] == pytest.approx(psnr_per_image(clean, restored).mean())


def test_progress_is_reported_after_every_face():
    _, noisy = faces_with_noise(0.05)
    seen = []
    apply_filter("tv_chambolle", noisy, 0.1, progress=seen.append)
    assert seen == [1, 2, 3]


@pytest.mark.parametrize("noise_type", ["gaussian", "salt_pepper"])
def test_color_images_are_filtered_channel_by_channel(noise_type):
    rng = np.random.default_rng(2)
    color = rng.integers(0, 256, (2, 12, 12, 3)).astype(np.float32) / 255
    _, restored = classical_baseline(noise_type, color, guard=3)
    filtered = apply_filter("gaussian_blur", color, 1.0)
    assert restored.shape == filtered.shape == color.shape
    for channel in range(3):
        gray = color[..., channel]
        assert np.array_equal(restored[..., channel], classical_baseline(noise_type, gray, 3)[1])
        assert np.array_equal(filtered[..., channel], apply_filter("gaussian_blur", gray, 1.0))
    seen = []
    apply_filter("gaussian_blur", color, 1.0, progress=seen.append)
    assert seen == [1, 2]  # once per image, not per channel
