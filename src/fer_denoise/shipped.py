"""The models that come with the package: one blind denoiser per noise family (`impulse`,
`gaussian`), trained over a range of levels and copied here by the `ship` stage, so that
`fer-denoise denoise` works without a trained repository."""

from pathlib import Path

from fer_denoise.errors import UserError

WEIGHTS = Path(__file__).parent / "weights"


def shipped_models() -> dict[str, Path]:
    """Noise family -> its model file in the installed package."""
    return {path.stem: path for path in sorted(WEIGHTS.glob("*.keras"))}


def shipped_model(family: str) -> Path:
    """The shipped model of one family, or an error that lists the families there are."""
    models = shipped_models()
    if family not in models:
        raise UserError(
            f"the package has no {family} model (it ships: {', '.join(models) or 'none'}); "
            "give a model with --model, or run `dvc repro ship` in the repository"
        )
    return models[family]
