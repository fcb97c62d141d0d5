"""Stage `ship`: the blind models become the package's default models.

Each blind model (models/blind/<task>.keras) is saved without its optimizer state into
src/fer_denoise/weights/<family>.keras (`impulse`, `gaussian`, ...), which git tracks
(`cache: false`): `fer-denoise denoise` uses them right after installing the package, and
dvc.lock holds their hashes, so the shipped files are exactly what the pipeline produced. The
same weights make the same file bytes (no save time inside), so a rerun that retrains a blind
model to the same weights leaves git nothing new to store.
"""

from fer_denoise.errors import run_stage
from fer_denoise.files import atomic_path
from fer_denoise.inference import load_model
from fer_denoise.model_archive import save_model
from fer_denoise.model_card import read_card
from fer_denoise.params import load_params
from fer_denoise.paths import SHIPPED_DIR


def main() -> None:
    params = load_params()
    with atomic_path(SHIPPED_DIR) as folder:
        folder.mkdir()
        for family, source in params.blind_models().items():
            target = folder / f"{family}.keras"
            # loaded uncompiled: saved without optimizer state
            save_model(load_model(source), target, {**read_card(source), "family": family})
            print(f"{source} -> {SHIPPED_DIR / target.name} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    run_stage(main)
