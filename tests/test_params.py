import copy
from pathlib import Path

import pytest
import yaml

from fer_denoise.errors import UserError
from fer_denoise.params import load_params, validate

DEFAULTS = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())


def with_change(path: str, value):
    params = copy.deepcopy(DEFAULTS)
    *parents, leaf = path.split(".")
    section = params
    for key in parents:
        section = section[key]
    section[leaf] = value
    return params


def test_the_committed_params_are_valid():
    params = validate(DEFAULTS)
    assert set(params.noise.tasks) == {"gaussian_low", "gaussian_high", "salt_pepper"}
    assert isinstance(params.noise.factor, float)
    assert params.spec("gaussian_high") == {"type": "gaussian", "sigma": 0.12}


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("train.epochs", 0, "`train.epochs` must be an integer >= 1"),
        ("train.epochs", "ten", "`train.epochs` must be an integer"),
        ("train.epochs", True, "`train.epochs` must be an integer"),
        ("train.loss", "huber", "`train.loss` must be one of mse, mae, l1\\+ssim"),
        ("train.typo", 1, "`train.typo` is not a known key"),
        ("noise.factor", -0.1, "`noise.factor` must be a number > 0.0"),
        ("noise.tasks.gaussian_low.std", -0.2, "`noise.tasks.gaussian_low.std` must be"),
        ("noise.tasks.salt_pepper.amount", 1.5, "`noise.tasks.salt_pepper.amount` must be"),
        ("noise.tasks.salt_pepper.type", "speckle", "`noise.tasks.salt_pepper.type` must be one"),
        ("noise.tasks.salt_pepper.std", 0.1, "`noise.tasks.salt_pepper.std` is not a known key"),
        ("models.resnet", {}, "`models.resnet` is not a known model"),
        ("data.limit", 0, "`data.limit` must be an integer >= 1 or null"),
        ("evaluate", None, "`evaluate` is missing"),
        ("curriculum.speckle", {"init": "x.keras"}, "`curriculum.speckle` is not a task"),
        ("curriculum.salt_pepper.init", "unet", "`curriculum.salt_pepper.init` must be a saved"),
        ("curriculum.salt_pepper", {"init": "a.keras", "lr": 1}, "must hold `init` and, opt"),
        ("curriculum.salt_pepper", {"fine_tune": {}}, "must hold `init` and, optionally"),
        ("curriculum.salt_pepper.fine_tune", 5, "`curriculum.salt_pepper.fine_tune` must map"),
        (
            "curriculum.salt_pepper.fine_tune",
            {"epoch": 5},
            "`curriculum.salt_pepper.fine_tune.epoch` is not a known key",
        ),
        (
            "curriculum.salt_pepper.fine_tune",
            {"epochs": 0},
            "`curriculum.salt_pepper.fine_tune.epochs` must be an integer >= 1",
        ),
        ("fine_tune.frozen_epochs", -1, "`fine_tune.frozen_epochs` must be an integer >= 0"),
        ("gan.content_loss", "gan", "`gan.content_loss` must be one of mse, mae"),
        ("gan.label_smoothing", 0.9, "`gan.label_smoothing` must be a number >= 0.0 and <= 0.5"),
        ("classifier.dropout", 1.0, "`classifier.dropout` must be a number >= 0.0 and <= 0.9"),
        ("classifier.width", 0, "`classifier.width` must be an integer >= 1"),
        ("baselines.bm3d", [], "`baselines.bm3d` must be a non-empty list of positive numbers"),
        ("baselines.bm3d", [1.0, 0], "`baselines.bm3d` must be a non-empty list"),
        ("baselines.nl_means", 0.8, "`baselines.nl_means` must be a non-empty list"),
        ("baselines.wavelet", [True], "`baselines.wavelet` must be a non-empty list"),
        ("extra_models.models", ["unet"], "`extra_models.models` must be a list of names from"),
        ("extra_models.models", ["resnet"], "from autoencoder, dncnn"),
        ("extra_models.tasks", ["speckle"], "`extra_models.tasks` must be a list of names from"),
        ("extra_models.tasks", ["gaussian_low"] * 2, "lists a name twice"),
        ("extra_models", {"models": []}, "`extra_models.tasks` is missing"),
        ("train.shift", 0.6, "`train.shift` must be a number >= 0.0 and <= 0.5"),
        ("train.per_task", {"salt_pepper": {}}, "`train.per_task` is not a known key"),
        ("noise.tasks.salt_pepper.train.loss", "l2", "`noise.tasks.salt_pepper.train.loss` must"),
        ("noise.tasks.salt_pepper.train.epoch", 3, "`noise.tasks.salt_pepper.train.epoch` is not"),
        ("noise.tasks.salt_pepper.train", [6], "`noise.tasks.salt_pepper.train` must map keys"),
        ("noise.tasks.gaussian_low.train", {"seed": -1}, "`noise.tasks.gaussian_low.train.seed`"),
        ("baselines.bm3d_images", 0, "`baselines.bm3d_images` must be an integer >= 1"),
        ("data.dataset", "ffhq", "`data.dataset` must be one of fer2013, images"),
        ("data.channels", 2, "`data.channels` must be one of 1, 3"),
        ("data.image_size", 64, "`data.image_size` is 64, but FER2013 faces have image_size 48"),
        ("data.channels", 3, "set it to 1, or data.dataset to `images`"),
        ("data.test_fraction", 0.6, "`data.test_fraction` must be a number > 0.0 and <= 0.5"),
        ("blind.model", "resnet", "`blind.model` must be a model of `models`"),
        (
            "blind.tasks.salt_pepper",
            {"noise": {"type": "gaussian", "std": 1}, "init": "a.keras"},
            "`blind.tasks.salt_pepper` must be a new task name",
        ),
        ("blind.tasks.gaussian_blind.init", "unet", "`blind.tasks.gaussian_blind.init` must be a"),
        ("blind.tasks.gaussian_blind.noise", {"type": "gaussian"}, "exactly one of `std`"),
        (
            "blind.tasks.salt_pepper_blind.noise",
            {"type": "gaussian", "sigma_range": [0, 0.1]},
            "as gaussian_blind does: keep one",
        ),
        ("blind.tasks.gaussian_blind.lr", 1, "`blind.tasks.gaussian_blind.lr` is not a known key"),
        (
            "blind.tasks.gaussian_blind.train.epochs",
            0,
            "`blind.tasks.gaussian_blind.train.epochs` must",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_fix(path, value, message):
    with pytest.raises(UserError, match=message) as error:
        validate(with_change(path, value))
    assert "dvc exp run -S" in str(error.value)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("models.unet.depth", 5, "`models.unet.depth` must be an integer >= 1 and <= 4"),
        ("models.dncnn.depth", 1, "`models.dncnn.depth` must be an integer >= 2"),
        ("models.dncnn.depht", 3, "`models.dncnn.depht` is not a known key"),
        ("models.unet.batch_norm", "no", "`models.unet.batch_norm` must be true or false"),
    ],
)
def test_a_model_section_is_checked_by_the_model_itself(path, value, message):
    from fer_denoise.models import model_settings

    params = validate(with_change(path, value))  # models import Keras: checked when built
    with pytest.raises(UserError, match=message):
        model_settings(params.models, path.split(".")[1])


def test_each_model_section_of_params_yaml_shows_its_defaults():
    """The builders' defaults and params.yaml cannot drift apart."""
    from fer_denoise.models import architecture

    for name, section in validate(DEFAULTS).models.items():
        assert architecture(name).settings().model_dump() == section, name


def test_a_noise_type_checks_its_own_settings_at_load():
    message = "`noise.tasks.salt_pepper.sigma` is not a known key"
    with pytest.raises(UserError, match=message):
        validate(with_change("noise.tasks.salt_pepper.sigma", 0.1))


def test_an_images_dataset_takes_any_size_and_color():
    params = with_change("data.dataset", "images")
    params["data"].update(image_size=128, channels=3)
    assert validate(params).data.image_size == 128


def test_an_integer_is_accepted_where_a_number_is_expected():
    assert validate(with_change("noise.factor", 1)).noise.factor == 1.0
    assert validate(with_change("baselines.bm3d", [1, 1.5])).baselines.bm3d == [1.0, 1.5]


def test_every_tuned_filter_has_a_grid_in_params():
    from fer_denoise.baselines import TUNED_FILTERS

    assert set(TUNED_FILTERS) <= set(type(validate(DEFAULTS).baselines).model_fields)


def test_a_task_s_model_values_override_the_section():
    params = validate(with_change("noise.tasks.salt_pepper.models", {"unet": {"base_filters": 24}}))
    salt_pepper, gaussian = params.models_for("salt_pepper"), params.models_for("gaussian_low")
    assert salt_pepper["unet"] == {**params.models["unet"], "base_filters": 24}
    assert salt_pepper["attention_unet"] == params.models["attention_unet"]
    assert gaussian == params.models
    blind = validate(
        with_change("blind.tasks.salt_pepper_blind.models", {"attention_unet": {"depth": 2}})
    ).models_for("salt_pepper_blind")
    assert blind["attention_unet"] == {**params.models["attention_unet"], "depth": 2}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("noise.tasks.salt_pepper.models", {"resnet": {}}, "salt_pepper.models.resnet` is not a"),
        ("noise.tasks.salt_pepper.models", {"unet": 24}, "models.unet` must be a mapping"),
        ("noise.tasks.salt_pepper.models", [24], "salt_pepper.models` must map model names"),
        ("blind.tasks.gaussian_blind.models", {"cnn": {}}, "gaussian_blind.models.cnn` is not"),
    ],
)
def test_a_task_s_model_values_must_name_models_and_map_keys(key, value, message):
    with pytest.raises(UserError, match=message):
        validate(with_change(key, value))


def test_unknown_section_and_bad_yaml_are_errors(tmp_path):
    with pytest.raises(UserError, match="`extra` is not a known section"):
        validate({**DEFAULTS, "extra": {}})
    bad = tmp_path / "params.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(bad)


def test_a_curriculum_task_s_fine_tune_values_override_the_section():
    params = validate(with_change("curriculum.salt_pepper.fine_tune", {"epochs": 7}))
    salt_pepper, gaussian = (
        params.curriculum[t].fine_tune for t in ("salt_pepper", "gaussian_low")
    )
    assert (salt_pepper.epochs, gaussian.epochs) == (7, DEFAULTS["fine_tune"]["epochs"])
    assert salt_pepper.learning_rate == DEFAULTS["fine_tune"]["learning_rate"]


def test_a_task_s_train_settings_override_the_section():
    params = validate(with_change("noise.tasks.salt_pepper.train", {"epochs": 7, "loss": "mae"}))
    salt_pepper, gaussian = params.train_for("salt_pepper"), params.train_for("gaussian_high")
    assert (salt_pepper.epochs, salt_pepper.loss) == (7, "mae")
    assert (gaussian.epochs, gaussian.loss) == (params.train.epochs, params.train.loss)
    assert salt_pepper.learning_rate == params.train.learning_rate
    blind = params.train_for("gaussian_blind")  # its own values: blind.tasks.<task>.train
    own = params.blind.tasks["gaussian_blind"].train
    assert (blind.epochs, blind.loss) == (own["epochs"], own["loss"])
    section = params.train.model_dump().items()
    assert all(getattr(blind, key) == value for key, value in section if key not in own)
