"""The generated results page, from metrics JSON alone."""

from fer_denoise.stages.report import render


def test_the_report_tables_every_model_and_bolds_the_best_restoration():
    evaluation = {
        "gaussian": {
            "noisy": {"psnr": 40.0, "ssim": 0.9},  # the noisy input is never "best"
            "median_3x3": {"psnr": 25.0, "ssim": 0.8},
            "unet": {"psnr": 30.123, "ssim": 0.95},
        },
        "salt_pepper": {
            "noisy": {"psnr": 15.0, "ssim": 0.5},
            "switching_median": {"psnr": 28.0, "ssim": 0.97},
        },
    }
    recognition = {
        "clean": {"accuracy": 0.6, "macro_f1": 0.5},
        "gaussian": {
            "noisy": {"accuracy": 0.5, "macro_f1": 0.4},
            "unet": {"accuracy": 0.55, "macro_f1": 0.45},
        },
    }
    region = {"psnr": 30.0, "ssim": 0.9}
    analysis = {
        "gaussian": {
            "noisy": {"edge": region, "flat": region, "emotion": {"happy": 28.0}},
            "unet": {
                "edge": {"psnr": 31.0, "ssim": 0.9},
                "flat": {"psnr": 33.0, "ssim": 0.95},
                "emotion": {"happy": 32.0, "sad": 31.5},
            },
        }
    }
    filters = {
        "gaussian": {
            "tv_chambolle": {"psnr": 26.0, "ssim": 0.85, "weight": 0.1, "images": 100},
            "bm3d": {"psnr": 27.5, "ssim": 0.88, "sigma_scale": 0.8, "images": 20},
        }
    }
    evaluation["gaussian"] |= filters["gaussian"]  # evaluate.json repeats them
    robustness = {
        "gaussian": {
            "noisy": {"0.01": 40.1, "0.3": 10.5},
            "gaussian unet": {"0.01": 35.0, "0.3": 15.0},
            "blind": {"0.01": 41.0, "0.3": 19.25},
        }
    }
    text = render(evaluation, recognition, analysis, robustness, filters)
    assert "| task | noisy | median_3x3 | unet | switching_median |" in text
    assert "| gaussian | 40.00 / 0.900 | 25.00 / 0.800 | **30.12 / 0.950** | - |" in text
    assert "| task | tv_chambolle | bm3d |" in text  # the filters have a table of their own
    assert (
        "| gaussian | 26.00 / 0.850 (weight 0.1) | **27.50 / 0.880 (sigma_scale 0.8, 20 faces)** |"
        in text
    )
    assert "| salt_pepper | 15.00 / 0.500 | - | - | **28.00 / 0.970** |" in text
    assert "60.00% / 0.500" in text and "| gaussian | 50.00 / 0.400 | **55.00 / 0.450** |" in text
    assert "| gaussian | 30.00 / 30.00 | **31.00 / 33.00** |" in text
    assert "## PSNR (dB) per emotion: gaussian" in text
    assert "| happy | 28.00 | **32.00** |" in text and "| sad | - | **31.50** |" in text
    assert "## PSNR (dB) across noise levels: gaussian" in text
    assert "| level | noisy | gaussian unet | blind |" in text
    assert "| 0.3 | 10.50 | 15.00 | **19.25** |" in text
