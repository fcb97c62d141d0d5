"""Every file the stages hand to each other, in one place. dvc.yaml names the same paths
(tests/test_dvc_yaml.py keeps the two in step), and a stage finds another stage's output here
rather than by importing that stage."""

from pathlib import Path

RAW_DIR = Path("data/raw")  # fetch
EXTERNAL_DIR = Path("data/external")  # a dataset the user put there by hand
PREPARED = Path("data/prepared/images.npz")  # prepare
SUMMARY = Path("data/prepared/summary.json")
NOISY_DIR = Path("data/noisy")  # noise@<task>
MODELS_DIR = Path("models")  # models/<model>/<task>.keras
EXTRA_MODELS_DIR = MODELS_DIR / "extra"  # params.yaml extra_models: extra/<model>/<task>.keras
BLIND_DIR = MODELS_DIR / "blind"  # train_blind@<task>: <task>.keras, any level of one family
# ship: the blind models as the package's default models, <family>.keras (in git; the installed
# package finds them beside its code, fer_denoise.shipped)
SHIPPED_DIR = Path("src/fer_denoise/weights")
CHECKPOINT_DIR = MODELS_DIR / "checkpoints"  # a training stage's epochs, until it ends
CLASSIFIER = MODELS_DIR / "classifier.keras"  # emotion_classifier
TRAIN_METRICS_DIR = Path("metrics/train")  # dvclive: metrics/train/<model>/<task>
BASELINES_DIR = Path("metrics/baselines")  # baselines@<task>: <task>.json
# A stage's headline (what `dvc exp show` shows) is a metrics file; its details are a plain
# output in git beside it (`dvc metrics show metrics/details/evaluate.json` reads one).
EVALUATION = Path("metrics/evaluate.json")  # evaluate
EVALUATION_DETAILS = Path("metrics/details/evaluate.json")
PSNR_TABLE = Path("plots/psnr.csv")
PER_IMAGE = Path("plots/per_image.csv")  # each test face's PSNR: FER2013 data, in DVC's cache
GRID_DIR = Path("plots/grids")
ANALYSIS = Path("metrics/analysis.json")  # error_analysis
ROBUSTNESS = Path("metrics/robustness.json")
WORST_DIR = Path("plots/worst")
ROBUSTNESS_PLOT = Path("plots/robustness.png")
RECOGNITION = Path("metrics/recognition.json")  # recognition
RECOGNITION_DETAILS = Path("metrics/details/recognition.json")
ACCURACY_TABLE = Path("plots/recognition.csv")
CONFUSION_TABLE = Path("plots/confusion.csv")  # each test face's label: FER2013 data
REPORT = Path("metrics/README.md")  # report


def noisy_path(task: str) -> Path:
    return NOISY_DIR / f"{task}.npz"


def model_path(model: str, task: str) -> Path:
    return MODELS_DIR / model / f"{task}.keras"


def extra_model_path(model: str, task: str) -> Path:
    return EXTRA_MODELS_DIR / model / f"{task}.keras"


def blind_model_path(task: str) -> Path:
    return BLIND_DIR / f"{task}.keras"


def shipped_path(family: str) -> Path:
    return SHIPPED_DIR / f"{family}.keras"


def discriminator_path(task: str) -> Path:
    return model_path("gan", f"{task}_discriminator")


def live_dir(model: str, task: str | None = None) -> Path:
    return TRAIN_METRICS_DIR / model / (task or "")


def checkpoint_dir(model: str, task: str | None = None) -> Path:
    return CHECKPOINT_DIR / model / task if task else CHECKPOINT_DIR / model


def baselines_path(task: str) -> Path:
    return BASELINES_DIR / f"{task}.json"
