"""Training losses, written with keras.ops so that they run on any Keras backend."""

import keras
from keras import ops


def ssim(y_true, y_pred, window: int = 7):
    """Mean SSIM over a batch with a uniform window (as skimage's default), images in [0, 1]."""
    channels = y_true.shape[-1]
    kernel = ops.ones((window, window, channels, 1)) / (window * window)

    def local_mean(x):
        return ops.depthwise_conv(x, kernel, strides=1, padding="valid")

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = local_mean(y_true), local_mean(y_pred)
    var_x = local_mean(y_true * y_true) - mu_x * mu_x
    var_y = local_mean(y_pred * y_pred) - mu_y * mu_y
    cov = local_mean(y_true * y_pred) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    return ops.mean(ssim_map)


def l1_ssim(y_true, y_pred, ssim_weight: float = 0.84):
    """Mixed loss (Zhao et al., 2017): SSIM for structure, L1 for intensities."""
    l1 = ops.mean(ops.abs(y_true - y_pred))
    return ssim_weight * (1.0 - ssim(y_true, y_pred)) + (1.0 - ssim_weight) * l1


def psnr_loss(y_true, y_pred):
    """Mean per-image log-MSE in dB: minimising it maximises the mean per-image PSNR, the metric
    the models are scored by. Each face's gradient is scaled by 1/its MSE, so faces already
    restored well keep contributing as the error falls."""
    mse = ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))
    return ops.mean(10.0 * ops.log10(mse + 1e-10))


def rmse_loss(y_true, y_pred):
    """Mean per-image RMSE: each face's gradient is scaled by 1/(2 x its RMSE), between MSE (faces
    alike, so the noisiest faces dominate) and `psnr_loss` (1/MSE). Over a range of noise levels
    it neither lets the strong end drown the faint end nor swings with the faintest faces."""
    mse = ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))
    return ops.mean(ops.sqrt(mse + 1e-10))


def get_loss(name: str):
    """The loss named in params.yaml `train.loss`."""
    losses = {
        "mse": keras.losses.MeanSquaredError(),
        "mae": keras.losses.MeanAbsoluteError(),
        "l1+ssim": l1_ssim,
        "psnr": psnr_loss,
        "rmse": rmse_loss,
    }
    return losses[name]


def psnr(y_true, y_pred):
    """Each image's PSNR in dB (data_range 1), a readable training metric: Keras averages the
    values over every image it has seen, so `val_psnr` is the mean per-image PSNR of the whole
    validation set, whatever the batch size (a mean per batch would weigh the last, short batch
    like a full one)."""
    mse = ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))
    return 10.0 * ops.log10(1.0 / ops.maximum(mse, 1e-10))
