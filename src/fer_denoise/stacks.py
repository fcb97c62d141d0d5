"""Image stacks: grayscale (N, H, W) or color (N, H, W, C).

FER2013 is grayscale; image-folder datasets may be RGB. Models always take a channel axis.
The classical filters and the analysis are written for grayscale stacks: a color stack goes
through them as planes, one grayscale image per channel, which is how skimage scores color
SSIM too (the mean over channels).
"""

from collections.abc import Callable

import numpy as np


def with_channel_axis(images: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, H, W, 1); a color stack as it is. What a model takes."""
    return images[..., None] if images.ndim == 3 else images


def like_input(output: np.ndarray, images: np.ndarray) -> np.ndarray:
    """A model's (N, H, W, C) output in the layout of its input `images`."""
    return output[..., 0] if images.ndim == 3 else output


def to_planes(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N * C, H, W), image by image; a grayscale stack as it is."""
    if images.ndim == 3:
        return images
    return np.moveaxis(images, -1, 1).reshape(-1, *images.shape[1:3])


def from_planes(planes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `to_planes` for a stack of `shape`."""
    if len(shape) == 3:
        return planes
    count, height, width, channels = shape
    return np.moveaxis(planes.reshape(count, channels, height, width), 1, -1)


def by_plane(function: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    """A function of grayscale stacks, applied to each channel of a color stack alike."""
    return from_planes(function(to_planes(images)), images.shape)
