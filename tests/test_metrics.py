import numpy as np
import pytest
from skimage.metrics import structural_similarity

from fer_denoise.metrics import mse_per_image, psnr_per_image, ssim_per_image, summarize


def test_known_psnr_and_mse_values():
    clean = np.zeros((2, 48, 48))
    estimate = clean + np.array([0.1, 0.01])[:, None, None]
    assert mse_per_image(clean, estimate) == pytest.approx([0.01, 0.0001])
    assert psnr_per_image(clean, estimate) == pytest.approx([20.0, 40.0])


def test_exact_restoration_is_capped_not_infinite():
    clean = np.random.default_rng(0).random((3, 48, 48))
    assert np.all(psnr_per_image(clean, clean) == pytest.approx(100.0))
    assert np.isfinite(summarize(clean, clean)["psnr"])


def test_vectorised_ssim_equals_skimage_image_by_image():
    rng = np.random.default_rng(0)
    clean = rng.random((5, 48, 48))
    noisy = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1)
    expected = [
        structural_similarity(c, n, data_range=1.0) for c, n in zip(clean, noisy, strict=True)
    ]
    assert ssim_per_image(clean, noisy) == pytest.approx(expected, abs=1e-10)
    assert ssim_per_image(clean, clean) == pytest.approx(np.ones(5))


def test_summary_is_the_per_image_mean():
    clean = np.zeros((2, 48, 48))
    estimate = clean + np.array([0.1, 0.01])[:, None, None]
    assert summarize(clean, estimate)["psnr"] == pytest.approx(30.0)
