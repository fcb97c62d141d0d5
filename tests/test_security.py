"""Safe by default, checked on the source itself: nothing a data file or params.yaml holds can
run code. (ruff's S rules catch eval, pickle and yaml.load too; this also covers np.load and
Keras' safe_mode, which ruff does not know.)"""

import ast
from pathlib import Path

import numpy as np
import pytest

SOURCES = sorted((Path(__file__).parents[1] / "src").rglob("*.py"))


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func), {k.arg: ast.unparse(k.value) for k in node.keywords}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_code_runs_from_data(path):
    tree = ast.parse(path.read_text())
    for name, keywords in calls(tree):
        if name in ("np.load", "numpy.load"):
            assert keywords.get("allow_pickle") == "False", f"{path}: {name} without pickle off"
        assert name not in ("eval", "exec", "yaml.load", "yaml.unsafe_load"), f"{path}: {name}"
        assert keywords.get("safe_mode") != "False", f"{path}: {name}(safe_mode=False)"
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & {"pickle", "dill", "joblib", "marshal"}, path


def test_every_output_of_the_cli_resolves_inside_out(tmp_path, monkeypatch):
    """The output-path rule, over inputs given every way a user can: relative and absolute,
    with . and .., through a linked folder, and tables whose array names try to climb out."""
    from conftest import png_bytes, synthetic_faces

    from fer_denoise.cli import Failures, planned
    from fer_denoise.errors import UserError

    work = tmp_path / "work"
    (work / "a" / "deep").mkdir(parents=True)
    (work / "a" / "deep" / "x.png").write_bytes(png_bytes(synthetic_faces(1)[0]))
    (work / "b").mkdir()
    (work / "b" / "x.png").write_bytes(png_bytes(synthetic_faces(1)[0]))
    (work / "linked").symlink_to(work / "a", target_is_directory=True)
    np.savez(work / "t.npz", images=synthetic_faces(2), **{"..": synthetic_faces(1)})
    monkeypatch.chdir(work / "b")
    inputs = [Path("x.png"), Path("../a/deep/../deep"), work / "linked", Path("../t.npz")]
    out = Path("../out")

    failures = Failures()
    items = planned(inputs, out, 1, failures)

    inside = out.resolve()
    assert len(items) == 5 and len(failures.items) == 1  # the array named ".." is refused
    for item in items:
        assert (out / item.output).resolve().is_relative_to(inside), item
    assert sorted(str(item.output) for item in items) == [
        "a/deep/x.png",
        "b/x.png",
        "linked/deep/x.png",
        "t/images/00000.png",
        "t/images/00001.png",
    ]

    # A link inside --out that points elsewhere is refused before anything is written.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (work / "out" / "b").unlink(missing_ok=True)
    (work / "out" / "b").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserError, match="outside --out ../out .a link inside it points"):
        planned(inputs, out, 1, Failures())
    assert not list(outside.iterdir())
