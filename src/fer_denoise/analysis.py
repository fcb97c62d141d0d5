"""Where denoisers fail: scores on edge and flat pixels, per emotion, and off the trained noise
level. Pure functions on float image stacks (N, H, W) in [0, 1]."""

import numpy as np
from scipy.ndimage import sobel
from skimage.metrics import structural_similarity

from fer_denoise.metrics import MSE_FLOOR

SSIM_BORDER = 3  # skimage's 7x7 window: the map's outer 3 pixels are not valid


def gradient_magnitude(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of each image (reflecting borders)."""
    images = images.astype(np.float64)
    return np.hypot(sobel(images, axis=1, mode="reflect"), sobel(images, axis=2, mode="reflect"))


def edge_and_flat_masks(
    clean: np.ndarray, edge_fraction: float, flat_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the `edge_fraction` of pixels with the strongest clean gradient and the
    `flat_fraction` with the weakest. Per-image ranks, so that every face counts alike whatever
    its contrast."""
    magnitude = gradient_magnitude(clean).reshape(len(clean), -1)
    ranks = magnitude.argsort(axis=1, kind="stable").argsort(axis=1) / magnitude.shape[1]
    edge = (ranks >= 1.0 - edge_fraction).reshape(clean.shape)
    flat = (ranks < flat_fraction).reshape(clean.shape)
    return edge, flat


def region_scores(
    clean: np.ndarray, estimate: np.ndarray, masks: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """For each named mask: the per-image mean PSNR over its pixels, and SSIM as the mean of
    skimage's SSIM map over its pixels inside the map's valid region (computed once)."""
    clean, estimate = clean.astype(np.float64), estimate.astype(np.float64)
    squared_error = (clean - estimate) ** 2
    _, ssim_map = structural_similarity(clean, estimate, data_range=1.0, channel_axis=0, full=True)
    inner = (slice(None), slice(SSIM_BORDER, -SSIM_BORDER), slice(SSIM_BORDER, -SSIM_BORDER))
    scores = {}
    for name, mask in masks.items():
        mse = (squared_error * mask).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))
        psnr = 10.0 * np.log10(1.0 / np.maximum(mse, MSE_FLOOR))
        inner_mask = mask[inner]
        ssim = (ssim_map[inner] * inner_mask).sum(axis=(1, 2)) / np.maximum(
            inner_mask.sum(axis=(1, 2)), 1
        )
        scores[name] = {"psnr": round(float(psnr.mean()), 4), "ssim": round(float(ssim.mean()), 5)}
    return scores


def mean_by_label(values: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> dict:
    """The mean of `values` over each label that occurs, keyed by its name."""
    return {
        names[label]: round(float(values[labels == label].mean()), 4) for label in np.unique(labels)
    }
