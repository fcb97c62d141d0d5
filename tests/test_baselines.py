import numpy as np

from fer_denoise.baselines import classical_baseline, impulse_mask, median_3x3, switching_median


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
