"""Image quality per image, on floats in [0, 1]: MSE, PSNR (data_range 1) and SSIM (skimage).

Reported numbers are per-image means over a set, the convention of the published FER2013
denoising results; whole-set PSNR can differ by several dB for impulse noise.
"""

import numpy as np
from skimage.metrics import structural_similarity

from fer_denoise.stacks import to_planes

MSE_FLOOR = 1e-10  # caps PSNR of an exact restoration at 100 dB so that means stay finite


def mse_per_image(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Mean squared error of each image in a stack (N, H, W) or (N, H, W, C)."""
    difference = reference.astype(np.float64) - estimate.astype(np.float64)
    return np.mean(difference**2, axis=tuple(range(1, difference.ndim)))


def psnr_per_image(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """PSNR in dB with data_range 1 for each image in a stack."""
    return 10.0 * np.log10(1.0 / np.maximum(mse_per_image(reference, estimate), MSE_FLOOR))


def ssim_per_image(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """skimage SSIM (7x7 uniform window, data_range 1) of each image, in one vectorised call.

    With the stack's first axis as channels, skimage filters each image on its own; the mean
    of each image's map, cropped like skimage crops it, is that image's SSIM. A color image
    scores the mean of its channels' SSIM, as skimage's own `channel_axis` does.
    """
    if reference.ndim == 4:
        per_plane = ssim_per_image(to_planes(reference), to_planes(estimate))
        return per_plane.reshape(len(reference), -1).mean(axis=1)
    reference = reference.astype(np.float64)
    estimate = estimate.astype(np.float64)
    _, ssim_map = structural_similarity(
        reference, estimate, data_range=1.0, channel_axis=0, full=True
    )
    pad = (7 - 1) // 2
    return ssim_map[:, pad:-pad, pad:-pad].mean(axis=(1, 2))


def summarize(reference: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """Per-image mean PSNR, SSIM and MSE of a stack against its clean reference."""
    return {
        "psnr": round(float(psnr_per_image(reference, estimate).mean()), 4),
        "ssim": round(float(ssim_per_image(reference, estimate).mean()), 5),
        "mse": round(float(mse_per_image(reference, estimate).mean()), 7),
    }
