"""dvc.yaml against the code: every package module a stage runs is one of its deps (so that no
change to the code leaves a stage's outputs stale without DVC noticing), stages share code
through library modules only, and the paths in fer_denoise.paths are the ones dvc.yaml names.
"""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src"
PACKAGE = "fer_denoise"
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

# Registries that import the files of a folder by name at run time: importing the registry
# means depending on the whole folder.
DISCOVERED = {"fer_denoise.noise": "src/fer_denoise/noise"}
# Extra models are imported by name when a stage runs them: the stages that do list them.
EXTRA_MODEL_DEPS = {
    "train_extra": "src/fer_denoise/models/extra/${item.model}.py",
    "evaluate": "src/fer_denoise/models/extra",
}


def module_file(name: str) -> Path | None:
    """The source file of a package module, or None for a name that is not a module."""
    base = SRC / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def has_code(path: Path) -> bool:
    """False for a module that is only a docstring (the packages' __init__.py)."""
    body = ast.parse(path.read_text()).body
    return any(
        not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body
    )


def imported_modules(name: str) -> set[str]:
    """The package modules that `name` imports, at module level or inside functions, with the
    packages that hold them."""
    found = set()
    for node in ast.walk(ast.parse(module_file(name).read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for target in targets:
            if target.split(".")[0] == PACKAGE and module_file(target):
                parts = target.split(".")
                found |= {".".join(parts[:end]) for end in range(2, len(parts) + 1)}
    return {module for module in found if module_file(module)}


def import_closure(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += imported_modules(module) - seen
    return seen


def stage_module(stage: dict) -> str:
    cmd = (stage.get("do") or stage)["cmd"]
    return cmd.split(" -m ")[1].split()[0]


def stage_deps(stage: dict) -> list[str]:
    return [str(dep) for dep in (stage.get("do") or stage)["deps"]]


def required_deps(module: str) -> set[str]:
    """The files (and discovered folders) a stage that runs `module` depends on."""
    modules = import_closure(module)
    files = {
        str(module_file(name).relative_to(ROOT)) for name in modules if has_code(module_file(name))
    }
    return files | {folder for registry, folder in DISCOVERED.items() if registry in modules}


def uncovered(required: set[str], deps: list[str]) -> list[str]:
    return sorted(
        path for path in required if not any(path == d or path.startswith(d + "/") for d in deps)
    )


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_depends_on_every_module_it_imports(name):
    stage = STAGES[name]
    missing = uncovered(required_deps(stage_module(stage)), stage_deps(stage))
    assert not missing, f"dvc.yaml stage {name} imports these but does not list them: {missing}"


def test_the_check_fails_when_a_dep_is_removed():
    stage = STAGES["evaluate"]
    deps = [dep for dep in stage_deps(stage) if dep != "src/fer_denoise/metrics.py"]
    assert uncovered(required_deps(stage_module(stage)), deps) == ["src/fer_denoise/metrics.py"]


def test_stages_that_run_extra_models_depend_on_them():
    for name, dep in EXTRA_MODEL_DEPS.items():
        assert dep in stage_deps(STAGES[name]), f"{name} runs extra models: list {dep}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_no_stage_imports_another_stage(name):
    module = stage_module(STAGES[name])
    others = {m for m in import_closure(module) if m.startswith(f"{PACKAGE}.stages.")} - {module}
    assert not others, f"{module} imports {others}: move what they share into a library module"


def test_the_paths_module_names_the_files_of_dvc_yaml():
    from fer_denoise import paths

    text = (ROOT / "dvc.yaml").read_text()
    constants = {
        name: value
        for name, value in vars(paths).items()
        if name.isupper() and isinstance(value, Path)
    }
    outside_dvc = {"EXTERNAL_DIR", "MODELS_DIR", "CHECKPOINT_DIR", "TRAIN_METRICS_DIR"}
    missing = [
        f"{name} = {value}"
        for name, value in constants.items()
        if name not in outside_dvc and str(value) not in text
    ]
    templated = [
        paths.noisy_path("${key}"),
        paths.model_path("unet", "${key}"),
        paths.extra_model_path("${item.model}", "${item.task}"),
        paths.discriminator_path("${key}"),
        paths.live_dir("gan", "${key}"),
        paths.live_dir("classifier"),
    ]
    missing += [str(path) for path in templated if str(path) not in text]
    assert not missing, f"paths.py and dvc.yaml disagree: {missing}"
