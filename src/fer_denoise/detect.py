"""Which kind of noise an image has, for `fer-denoise denoise --noise auto`: impulses or not.

Salt-and-pepper noise leaves isolated pixels at exactly 0 and exactly 1 (both kinds), while the
pixels between them keep their clean values. Gaussian noise clips some pixels to 0 or 1 too,
but only when it is strong, and then every other pixel is noisy as well. Two numbers tell them
apart: the share of isolated extremes (a pixel at 0 or 1 more than ISOLATED from the median of
its 3x3 neighbourhood; twice the rarer of the two kinds, so that a clean face's dark background
or highlights do not count) and the noise left in the other pixels (robust sigma of their
difference from that median).

Measured on 300 PrivateTest faces per level (docs/results.md): Gaussian sigma 0.01-0.3 is taken
for impulses in at most 1.3% of faces (the faces that had isolated extremes before any noise),
salt-and-pepper amounts 0.02-0.3 are missed in at most 0.3%.
"""

import numpy as np
from scipy.ndimage import median_filter

ISOLATED = 0.2  # an extreme pixel this far from its neighbourhood's median is an impulse
MIN_SHARE = 0.003  # of the pixels: fewer isolated extremes are a clean face's own
SHARE_PER_SIGMA = 0.2  # strong Gaussian noise clips too: impulses must outnumber its clipping
MAX_SIGMA = 0.07  # impulse noise leaves the other pixels about as clean as a clean face's


def impulse_evidence(image: np.ndarray) -> tuple[float, float]:
    """(share of isolated extremes, noise sigma of the other pixels) of a 2-D float image in
    [0, 1] rounded to 8 bits."""
    median = median_filter(image, size=3, mode="mirror")
    isolated = np.abs(image - median) > ISOLATED
    pepper, salt = (isolated & (image == 0)).mean(), (isolated & (image == 1)).mean()
    others = ~((image == 0) | (image == 1))
    residual = np.abs(image - median)[others]
    sigma = 1.4826 * float(np.median(residual)) if residual.size else 0.0
    return 2 * float(min(pepper, salt)), sigma


def noise_family(image: np.ndarray) -> str:
    """`impulse` or `gaussian`: the blind model that should restore this image (2-D, or with one
    channel axis at the end)."""
    share, sigma = impulse_evidence(np.asarray(image, np.float32).reshape(image.shape[:2]))
    impulse = share > max(MIN_SHARE, SHARE_PER_SIGMA * sigma) and sigma < MAX_SIGMA
    return "impulse" if impulse else "gaussian"
