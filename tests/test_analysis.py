"""Error analysis on its own: edge and flat masks, masked scores, the robustness sweep."""

import numpy as np
import pytest

from fer_denoise.analysis import edge_and_flat_masks, mean_by_label, region_scores
from fer_denoise.noise import noise_level, noise_type


def step_faces(count: int) -> np.ndarray:
    """Dark left half, bright right half: the only edge is the vertical step in the middle."""
    images = np.zeros((count, 48, 48), np.float32)
    images[:, :, 24:] = 0.8
    return images


def test_edge_pixels_lie_on_the_step_and_flat_pixels_away_from_it():
    # Only columns 23 and 24 (96 pixels) have a gradient; 4% of the image is 92 pixels.
    edge, flat = edge_and_flat_masks(step_faces(2), edge_fraction=0.04, flat_fraction=0.5)
    columns = np.nonzero(edge[0])[1]
    assert set(columns) == {23, 24} and edge[0].sum() == round(0.04 * 48 * 48)
    assert not flat[0][:, 23:25].any() and flat[0].sum() == 0.5 * 48 * 48
    assert not (edge & flat).any()


def test_an_error_on_flat_pixels_only_leaves_the_edge_scores_perfect():
    clean = step_faces(3)
    edge, flat = edge_and_flat_masks(clean, edge_fraction=0.04, flat_fraction=0.5)
    estimate = clean + 0.05 * flat
    scores = region_scores(clean, estimate, {"edge": edge, "flat": flat})
    edge_scores, flat_scores = scores["edge"], scores["flat"]
    assert edge_scores["psnr"] == 100.0  # MSE floored: an exact restoration
    assert flat_scores["psnr"] == pytest.approx(10 * np.log10(1 / 0.05**2), abs=1e-3)
    assert flat_scores["ssim"] < edge_scores["ssim"]


def test_mean_by_label_names_each_label_that_occurs():
    values = np.array([1.0, 3.0, 10.0, 20.0])
    assert mean_by_label(values, np.array([0, 0, 2, 2]), ("a", "b", "c")) == {"a": 2.0, "c": 15.0}


def test_the_sweep_covers_the_range_the_blind_models_are_trained_for():
    gaussian, impulses = (noise_type(name).sweep_specs() for name in ("gaussian", "salt_pepper"))
    assert noise_level(gaussian[0]) <= 0.01 and noise_level(gaussian[-1]) >= 0.3
    assert noise_level(impulses[0]) <= 0.02 and noise_level(impulses[-1]) >= 0.3
    assert noise_type("salt_pepper").family() == "impulse"
    assert noise_type("gaussian").family() == "gaussian"
