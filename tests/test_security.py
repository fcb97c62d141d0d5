"""Safe by default, checked on the source itself: nothing a data file or params.yaml holds can
run code. (ruff's S rules catch eval, pickle and yaml.load too; this also covers np.load and
Keras' safe_mode, which ruff does not know.)"""

import ast
from pathlib import Path

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
