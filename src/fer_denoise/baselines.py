"""Classical denoisers the learned models must beat, on stacks of float images in [0, 1].

Two kinds: the fixed filter that suits each noise type (`CLASSICAL`, named by the noise type's
`classical_baseline`: 3x3 median or switching median), and the tuned filters (`TUNED_FILTERS`,
those a noise type lists in `tuned_filters`), each with one setting that the `baselines` stage
picks on PublicTest from a grid in params.yaml.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import gaussian_filter, median_filter
from skimage.restoration import (
    denoise_nl_means,
    denoise_tv_chambolle,
    denoise_wavelet,
    estimate_sigma,
)

from fer_denoise.metrics import psnr_per_image
from fer_denoise.noise import noise_type
from fer_denoise.stacks import by_plane, from_planes, to_planes

CHUNK = 512  # images per pass of the switching median, to bound memory
SIGMA_FLOOR = 1e-3  # a flat image estimates sigma 0, which the sigma-driven filters reject


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


# The fixed filters, by name: (images, switching median guard) -> restored images.
CLASSICAL: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "median_3x3": lambda images, guard: median_3x3(images),
    "switching_median": switching_median,
}


def baseline_name(kind: str) -> str:
    """The name, in the metrics, of the classical filter that suits a noise type."""
    return noise_type(kind).classical_baseline


def classical_baseline(kind: str, images: np.ndarray, guard: int) -> tuple[str, np.ndarray]:
    """The baseline that suits a noise type, with its name for the metrics."""
    name = baseline_name(kind)
    return name, by_plane(lambda plane: CLASSICAL[name](plane, guard), images)


def noise_sigma(image: np.ndarray) -> float:
    """One image's noise sigma, estimated blind (robust median of its finest wavelet details),
    so that no filter is told the noise it faces."""
    return max(float(estimate_sigma(image)), SIGMA_FLOOR)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter(image, sigma, mode="reflect")


def tv_chambolle(image: np.ndarray, weight: float) -> np.ndarray:
    return denoise_tv_chambolle(image, weight=weight)


def wavelet(image: np.ndarray, sigma_scale: float) -> np.ndarray:
    """BayesShrink soft thresholding, with the estimated sigma times `sigma_scale`."""
    return denoise_wavelet(
        image, sigma=sigma_scale * noise_sigma(image), method="BayesShrink", mode="soft"
    )


def nl_means(image: np.ndarray, h_scale: float) -> np.ndarray:
    """Non-local means over 5x5 patches within 13x13, filter strength h = h_scale * sigma."""
    sigma = noise_sigma(image)
    return denoise_nl_means(
        image, h=h_scale * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True
    )


def bm3d_filter(image: np.ndarray, sigma_scale: float) -> np.ndarray:
    """BM3D (the `bm3d` package) with sigma_psd = the estimated sigma times `sigma_scale`.

    Imported here: it pulls in scipy.signal, seconds of start-up that the stages importing
    this module for the other filters would pay for nothing.
    """
    import bm3d

    return bm3d.bm3d(image, sigma_psd=sigma_scale * noise_sigma(image))


@dataclass(frozen=True)
class TunedFilter:
    """A classical filter with one setting, chosen per task on PublicTest."""

    apply: Callable[[np.ndarray, float], np.ndarray]  # one image (H, W) and the setting
    setting: str  # the setting's name in params.yaml's comments and in the metrics


# Which of them run on a task is its noise type's `tuned_filters`.
TUNED_FILTERS: dict[str, TunedFilter] = {
    "gaussian_blur": TunedFilter(gaussian_blur, "sigma"),
    "tv_chambolle": TunedFilter(tv_chambolle, "weight"),
    "wavelet": TunedFilter(wavelet, "sigma_scale"),
    "nl_means": TunedFilter(nl_means, "h_scale"),
    # About 0.7 s a face on 2 cores: it runs on the first `baselines.bm3d_images` faces.
    "bm3d": TunedFilter(bm3d_filter, "sigma_scale"),
}


def apply_filter(
    name: str, images: np.ndarray, setting: float, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """A tuned filter on each image of a stack, each channel of a color image on its own;
    float32 in [0, 1].

    `progress(done)` is called after each image, for the slow filters.
    """
    planes = to_planes(images)
    channels = len(planes) // max(len(images), 1)
    restored = np.empty(planes.shape, np.float32)
    for index, plane in enumerate(planes):
        restored[index] = TUNED_FILTERS[name].apply(plane.astype(np.float64), setting)
        if progress and (index + 1) % channels == 0:
            progress((index + 1) // channels)
    return from_planes(np.clip(restored, 0.0, 1.0), images.shape)


def tune(
    name: str, grid: list[float], noisy: np.ndarray, clean: np.ndarray
) -> tuple[float, dict[float, float]]:
    """The setting from `grid` with the highest mean PSNR on (noisy, clean), and every
    setting's mean PSNR. Ties go to the first setting in the grid."""
    scores = {
        setting: float(psnr_per_image(clean, apply_filter(name, noisy, setting)).mean())
        for setting in grid
    }
    return max(scores, key=scores.get), scores
