import numpy as np
import pytest

from fer_denoise.errors import UserError
from fer_denoise.noise import (
    add_noise,
    draw_noise,
    noise_level,
    noise_types,
    parse_task,
    task_rng,
    to_float,
    to_uint8,
)
from fer_denoise.stages.add_noise import make_noisy

GREY = np.full((200, 48, 48), 128 / 255, np.float32)  # an 8-bit level


def resolve_spec(task, factor):
    """A task's params.yaml settings, checked by its noise type, resolved."""
    return parse_task("noise.tasks.t", task).resolve(factor)


def test_gaussian_noise_has_the_requested_sigma_and_no_mean_shift():
    noisy = add_noise(GREY, {"type": "gaussian", "sigma": 0.1}, task_rng(1, "t", "x"))
    residual = noisy - GREY
    assert abs(residual.std() - 0.1) < 0.002
    assert abs(residual.mean()) < 0.002


def test_noise_is_clipped_to_the_unit_range_and_rounded_to_8_bit_levels():
    clean = np.linspace(0, 1, 48 * 48 * 10, dtype=np.float32).reshape(10, 48, 48)
    noisy = add_noise(clean, {"type": "gaussian", "sigma": 0.5}, task_rng(1, "t", "x"))
    assert noisy.min() == 0.0 and noisy.max() == 1.0
    assert np.allclose(noisy * 255, np.round(noisy * 255), atol=1e-4)


def test_salt_and_pepper_corrupts_the_amount_half_black_half_white():
    noisy = add_noise(GREY, {"type": "salt_pepper", "amount": 0.1}, task_rng(1, "t", "x"))
    black, white = (noisy == 0).mean(), (noisy == 1).mean()
    assert abs(black - 0.05) < 0.003 and abs(white - 0.05) < 0.003
    assert np.all((noisy == 0) | (noisy == 1) | (noisy == GREY))


def test_same_seed_task_and_split_give_the_same_bytes_and_others_differ():
    images = to_uint8(GREY[:20])
    split = np.array(["train"] * 10 + ["val"] * 5 + ["test"] * 5)
    spec = {"type": "gaussian", "sigma": 0.05}
    first = make_noisy(images, split, spec, 7, "gaussian_low")
    again = make_noisy(images, split, spec, 7, "gaussian_low")
    other_task = make_noisy(images, split, spec, 7, "gaussian_high")
    other_seed = make_noisy(images, split, spec, 8, "gaussian_low")
    for name in ("train", "val", "test"):
        assert first[name].tobytes() == again[name].tobytes()
        assert first[name].tobytes() != other_task[name].tobytes()
        assert first[name].tobytes() != other_seed[name].tobytes()
    assert first["val"].tobytes() != first["test"].tobytes()


def test_gaussian_sigma_is_factor_times_std_and_a_task_factor_wins():
    assert resolve_spec({"type": "gaussian", "std": 0.6}, 0.2)["sigma"] == pytest.approx(0.12)
    task = {"type": "gaussian", "std": 0.6, "factor": 0.1}
    assert resolve_spec(task, 0.2)["sigma"] == pytest.approx(0.06)
    assert resolve_spec({"type": "salt_pepper", "amount": 0.1}, 0.2) == {
        "type": "salt_pepper",
        "amount": 0.1,
    }


def test_uint8_round_trip_is_exact():
    levels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_uint8(to_float(levels)), levels)


# One task of each noise type, as params.yaml would hold it: a new type adds its line here.
EXAMPLES = {
    "gaussian": {"type": "gaussian", "std": 0.2},
    "salt_pepper": {"type": "salt_pepper", "amount": 0.1},
    "poisson": {"type": "poisson", "peak": 30.0},
}


def test_every_registered_noise_type_has_an_example():
    assert set(EXAMPLES) == set(noise_types())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_noise_type_is_seeded_bounded_and_sweeps_rising_levels(name):
    from fer_denoise.baselines import CLASSICAL, TUNED_FILTERS

    kind = noise_types()[name]
    spec = parse_task(f"noise.tasks.{name}", EXAMPLES[name]).resolve(0.2)
    clean = np.linspace(0, 1, 48 * 48 * 4, dtype=np.float32).reshape(4, 48, 48)
    first, again = (add_noise(clean, spec, task_rng(3, name, "x")) for _ in range(2))
    assert first.dtype == np.float32 and np.array_equal(first, again)
    assert 0.0 <= first.min() and first.max() <= 1.0 and not np.array_equal(first, clean)
    sweep = kind.sweep_specs()
    levels = [noise_level(level) for level in sweep]
    assert len(sweep) >= 4 and levels == sorted(levels) and len(set(levels)) == len(levels)
    weakest, strongest = (
        add_noise(clean, s, task_rng(3, name, "x")) for s in (sweep[0], sweep[-1])
    )
    assert np.abs(strongest - clean).mean() > np.abs(weakest - clean).mean()
    assert kind.classical_baseline in CLASSICAL
    assert set(kind.tuned_filters) <= set(TUNED_FILTERS)


def test_poisson_noise_grows_with_brightness():
    spec = {"type": "poisson", "peak": 30.0}
    dark, bright = (np.full((50, 48, 48), level, np.float32) for level in (0.2, 0.5))
    dark_sd = (add_noise(dark, spec, task_rng(1, "p", "x")) - dark).std()
    bright_sd = (add_noise(bright, spec, task_rng(1, "p", "x")) - bright).std()
    assert dark_sd == pytest.approx(np.sqrt(0.2 / 30), rel=0.05)
    assert bright_sd == pytest.approx(np.sqrt(0.5 / 30), rel=0.05)


def test_an_unknown_noise_type_lists_the_registered_ones():
    from fer_denoise.errors import UserError

    with pytest.raises(UserError, match="must be one of gaussian, .*poisson"):
        parse_task("noise.tasks.x", {"type": "speckle"})


RANGES = {
    "gaussian": {"type": "gaussian", "sigma_range": [0.0, 0.3]},
    "salt_pepper": {"type": "salt_pepper", "amount_range": [0.02, 0.3]},
}


@pytest.mark.parametrize("name", sorted(RANGES))
def test_a_range_task_draws_a_seeded_level_per_image_within_the_range(name):
    spec = parse_task(f"noise.tasks.{name}", RANGES[name]).resolve(0.2)
    key = noise_types()[name].level_key
    low, high = RANGES[name][f"{key}_range"]
    clean = np.full((200, 16, 16), 0.5, np.float32)
    noisy, levels = draw_noise(clean, spec, task_rng(1, name, "train"))
    again, same_levels = draw_noise(clean, spec, task_rng(1, name, "train"))
    assert np.array_equal(noisy, again) and np.array_equal(levels, same_levels)
    assert levels.shape == (200,) and low <= levels.min() < levels.max() <= high
    assert levels.std() > (high - low) / 5  # spread over the range, not one level
    # each image's noise follows its own level: stronger levels, larger deviations
    deviation = np.abs(noisy - clean).mean(axis=(1, 2))
    assert np.corrcoef(levels, deviation)[0, 1] > 0.9


def test_a_low_range_gives_its_share_of_images_a_fainter_level():
    plain = parse_task("noise.tasks.b", {"type": "gaussian", "sigma_range": [0.0, 0.3]})
    focused = parse_task(
        "noise.tasks.b",
        {"type": "gaussian", "sigma_range": [0.0, 0.3], "low_range": [0.0, 0.06], "low_share": 0.5},
    )
    clean = np.full((4000, 4, 4), 0.5, np.float32)
    _, uniform = draw_noise(clean, plain.resolve(0.2), task_rng(1, "b", "train"))
    spec = focused.resolve(0.2)
    assert spec["low_range"] == [0.0, 0.06] and spec["low_share"] == 0.5
    _, levels = draw_noise(clean, spec, task_rng(1, "b", "train"))
    # uniform: 20% of the faces below 0.06; half of them from the low range: 50% + 10%
    assert np.mean(uniform < 0.06) == pytest.approx(0.2, abs=0.03)
    assert np.mean(levels < 0.06) == pytest.approx(0.6, abs=0.03)
    assert 0.0 <= levels.min() and levels.max() <= 0.3
    _, again = draw_noise(clean, spec, task_rng(1, "b", "train"))
    np.testing.assert_array_equal(levels, again)


def test_a_fixed_level_task_draws_as_before_ranges_existed():
    spec = {"type": "gaussian", "sigma": 0.04}
    clean = np.full((4, 8, 8), 0.5, np.float32)
    noisy, levels = draw_noise(clean, spec, task_rng(1, "t", "x"))
    expected = clean + np.float32(0.04) * task_rng(1, "t", "x").standard_normal(
        clean.shape, np.float32
    )
    assert levels is None
    np.testing.assert_array_equal(noisy, np.round(np.clip(expected, 0, 1) * 255) / np.float32(255))


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"type": "gaussian", "std": 0.2, "sigma_range": [0, 0.3]}, "exactly one of `std`"),
        ({"type": "gaussian"}, "exactly one of `std` and `sigma_range`"),
        ({"type": "salt_pepper", "amount_range": [0.3, 0.1]}, "must be \\[lowest, highest\\]"),
        ({"type": "salt_pepper", "amount_range": [0.1]}, "`noise.tasks.t.amount_range` must be"),
        (
            {"type": "gaussian", "std": 0.2, "low_range": [0, 0.1]},
            "`low_range` needs `sigma_range`",
        ),
        (
            {"type": "gaussian", "sigma_range": [0.0, 0.3], "low_range": [0.0, 0.5]},
            "inside `sigma_range`",
        ),
        (
            {"type": "gaussian", "sigma_range": [0, 0.3], "low_range": [0, 0.1], "low_share": 1},
            "low_share",
        ),
    ],
)
def test_a_level_and_its_range_are_checked(task, message):
    with pytest.raises(UserError, match=message):
        parse_task("noise.tasks.t", task)


def test_a_range_task_s_noisy_set_stores_each_image_s_level():
    images = np.full((30, 8, 8), 128, np.uint8)
    split = np.array(["train"] * 10 + ["val"] * 10 + ["test"] * 10)
    stored = make_noisy(images, split, {"type": "salt_pepper", "amount_range": [0.0, 0.3]}, 7, "t")
    for name in ("train", "val", "test"):
        levels = stored[f"{name}_levels"]
        assert levels.dtype == np.float32 and levels.shape == (10,)
        hit = ((stored[name] == 0) | (stored[name] == 255)).mean(axis=(1, 2))
        assert np.corrcoef(levels, hit)[0, 1] > 0.8  # more impulses where the level is higher
    fixed = make_noisy(images, split, {"type": "salt_pepper", "amount": 0.1}, 7, "t")
    assert set(fixed) == {"train", "val", "test"}
