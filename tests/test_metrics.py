import numpy as np
import pytest
from skimage.metrics import structural_similarity

from fer_denoise.headlines import headline
from fer_denoise.metrics import (
    mse_per_image,
    psnr_per_image,
    ssim_per_image,
    summarize,
)
from fer_denoise.stacks import by_plane, from_planes, like_input, to_planes, with_channel_axis


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


def test_color_images_score_like_skimage_with_a_channel_axis():
    rng = np.random.default_rng(1)
    clean = rng.random((3, 16, 16, 3))
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
    expected = [
        structural_similarity(c, n, data_range=1.0, channel_axis=-1)
        for c, n in zip(clean, noisy, strict=True)
    ]
    np.testing.assert_allclose(ssim_per_image(clean, noisy), expected, rtol=1e-6)
    mse = ((clean - noisy) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(mse_per_image(clean, noisy), mse)


def test_color_stacks_go_through_grayscale_functions_plane_by_plane():
    images = np.arange(2 * 4 * 5 * 3).reshape(2, 4, 5, 3)
    planes = to_planes(images)
    assert planes.shape == (6, 4, 5)
    assert np.array_equal(planes[4], images[1, :, :, 1])  # image 1, channel 1
    assert np.array_equal(from_planes(planes, images.shape), images)
    assert np.array_equal(by_plane(lambda p: p[:, ::-1], images), images[:, ::-1])
    gray = images[..., 0]
    assert to_planes(gray) is gray and with_channel_axis(gray).shape == (2, 4, 5, 1)
    assert like_input(with_channel_axis(gray), gray).shape == gray.shape
    assert with_channel_axis(images) is images


def test_the_headline_keeps_psnr_and_ssim_and_names_the_best_of_each_kind():
    scores = {
        "noisy": {"psnr": 20.0, "ssim": 0.7, "mse": 0.01},
        "median_3x3": {"psnr": 22.0, "ssim": 0.8, "mse": 0.006},
        "nl_means": {"psnr": 23.0, "ssim": 0.82, "mse": 0.005, "h_scale": 0.6, "images": 100},
        "bm3d": {"psnr": 25.0, "ssim": 0.9, "mse": 0.003, "images": 8},  # a subset: not compared
        "unet": {"psnr": 26.0, "ssim": 0.91, "mse": 0.002},
        "gan": {"psnr": 26.5, "ssim": 0.90, "mse": 0.0019},
    }
    result = headline(scores, ["unet", "gan"], faces=100)
    assert list(result) == ["noisy", "best_filter", "unet", "gan", "best"]
    assert result["best_filter"] == {"psnr": 23.0, "ssim": 0.82}
    assert result["best"] == {"psnr": 26.5, "ssim": 0.90}
    assert all(set(value) == {"psnr", "ssim"} for value in result.values())
