"""Classical denoisers the learned models must beat, on stacks of float images in [0, 1]."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import median_filter

CHUNK = 512  # images per pass of the switching median, to bound memory


def median_3x3(images: np.ndarray) -> np.ndarray:
    """3x3 median of each image (reflecting borders): the textbook impulse-noise filter."""
    return median_filter(images, size=(1, 3, 3), mode="reflect")


def impulse_mask(images: np.ndarray, guard: int) -> np.ndarray:
    """Pixels that look like salt or pepper: exactly 0 or 1, and fewer than `guard` of the 8
    neighbours share the value.

    About 8% of clean FER2013 pixels are saturated (0 or 255); the guard keeps those that sit
    in saturated regions from being "repaired". guard 0 treats every 0/1 pixel as an impulse.
    """
    extreme = (images == 0.0) | (images == 1.0)
    if guard == 0:
        return extreme
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    same = sliding_window_view(padded, (3, 3), axis=(1, 2)) == images[..., None, None]
    alike_neighbours = same.sum(axis=(-2, -1)) - 1
    return extreme & (alike_neighbours < guard)


def switching_median(images: np.ndarray, guard: int) -> np.ndarray:
    """Replace only impulse pixels, by the median of their non-impulse 3x3 neighbours.

    Where every neighbour is an impulse, the plain 3x3 median is used.
    """
    restored = images.astype(np.float32, copy=True)
    for start in range(0, len(images), CHUNK):
        batch = restored[start : start + CHUNK]
        impulses = impulse_mask(batch, guard)
        windows = sliding_window_view(
            np.pad(np.where(impulses, np.nan, batch), ((0, 0), (1, 1), (1, 1)), mode="reflect"),
            (3, 3),
            axis=(1, 2),
        ).reshape(*batch.shape, 9)
        all_impulses = np.isnan(windows).all(axis=-1)
        windows = np.where(all_impulses[..., None], 0.0, windows)
        replacement = np.nanmedian(windows, axis=-1)
        replacement = np.where(all_impulses, median_3x3(batch), replacement)
        batch[impulses] = replacement[impulses]
    return restored


def baseline_name(noise_type: str) -> str:
    """The name, in the metrics, of the classical filter that suits a noise type."""
    return "switching_median" if noise_type == "salt_pepper" else "median_3x3"


def classical_baseline(noise_type: str, images: np.ndarray, guard: int) -> tuple[str, np.ndarray]:
    """The baseline that suits a noise type, with its name for the metrics."""
    if noise_type == "salt_pepper":
        return baseline_name(noise_type), switching_median(images, guard)
    return baseline_name(noise_type), median_3x3(images)
