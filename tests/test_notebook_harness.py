"""Every notebook follows the harness: Colab badge for its own path, set-up cell, smoke flag."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from helpers import notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
BADGE = "https://colab.research.google.com/github/{repo}/blob/main/notebooks/{name}"


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_harness(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    first_markdown = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown"
    assert BADGE.format(repo=notebook.GITHUB_REPOSITORY, name=path.name) in first_markdown
    setup = next(c for c in cells if c["cell_type"] == "code")
    source = "".join(setup["source"])
    assert "google.colab" in source and notebook.GITHUB_REPOSITORY in source  # Colab: clone + install
    assert "start_notebook(" in source
    # Notebooks are committed without outputs so diffs stay readable.
    for cell in cells:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, path.name


def test_smoke_flag(monkeypatch):
    monkeypatch.setenv(notebook.SMOKE_ENV, "1")
    assert notebook.smoke_mode()
    monkeypatch.setenv(notebook.SMOKE_ENV, "0")
    assert not notebook.smoke_mode()
    monkeypatch.delenv(notebook.SMOKE_ENV)
    assert not notebook.smoke_mode()


def test_output_dir_separates_smoke_runs(monkeypatch):
    monkeypatch.setenv(notebook.SMOKE_ENV, "1")
    smoke = notebook.output_dir("unit-test-job")
    assert smoke.is_dir() and smoke.parts[-2:] == ("smoke", "unit-test-job")
    smoke.rmdir()
    assert "torch" in notebook.describe_environment()


# ----------------------------------------------------------------------------------------- smoke = the same path
#: Calls a smoke-mode assignment may make: conversions and typed configs (pure values), nothing that writes or loads.
_VALUE_CALLS = {"str", "int", "float", "bool", "tuple", "list", "dict", "range", "Path"}
_VALUE_NODES = (ast.Constant, ast.Name, ast.Load, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.BinOp, ast.UnaryOp,
                ast.operator, ast.unaryop, ast.Subscript, ast.Attribute, ast.JoinedStr, ast.FormattedValue,
                ast.keyword, ast.Slice)


def _value_problems(node: ast.AST) -> list[str]:
    problems = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            name = sub.func.id if isinstance(sub.func, ast.Name) else None
            if name is None or not (name in _VALUE_CALLS or name.endswith("Config")):
                problems.append(f"calls {ast.unparse(sub.func)}()")
        elif not isinstance(sub, (*_VALUE_NODES, ast.Call)):
            problems.append(f"has {type(sub).__name__}")
    return problems


def smoke_block_problems(source: str) -> list[str]:
    """What an ``if SMOKE:`` block of ``source`` does besides assigning values to names."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "SMOKE"):
            continue
        if node.orelse:
            problems.append(f"line {node.lineno}: an else branch (smoke mode would take another path)")
        for statement in node.body:
            where = f"line {statement.lineno}: {ast.unparse(statement)[:70]}"
            if not isinstance(statement, ast.Assign):
                problems.append(f"{where}: not an assignment")
                continue
            targets = [t for target in statement.targets for t in (target.elts if isinstance(target, ast.Tuple)
                                                                   else [target])]
            problems += [f"{where}: assigns to {ast.unparse(t)}" for t in targets if not isinstance(t, ast.Name)]
            problems += [f"{where}: {p}" for p in _value_problems(statement.value)]
    return problems


def test_smoke_block_check_catches_what_it_should():
    assert smoke_block_problems('if SMOKE:\n    A, B = "tiny-random", 4\n    C = Path(D) / "x"\n') == []
    assert smoke_block_problems("if SMOKE:\n    C = DepthModelConfig(start_filts=4)\n") == []
    bad = {"import shutil": "not an assignment", "shutil.rmtree(OUT)": "not an assignment",
           "DATA = write_head_dataset(OUT)": "calls write_head_dataset()", "X.y = 1": "assigns to X.y",
           "M = {k: 1 for k in K}": "has DictComp", "P = str(save(OUT))": "calls save()"}
    for statement, problem in bad.items():
        found = smoke_block_problems(f"if SMOKE:\n    {statement}\n")
        assert any(problem in p for p in found), (statement, found)
    assert "else branch" in smoke_block_problems("if SMOKE:\n    A = 1\nelse:\n    A = 2\n")[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_smoke_mode_only_sets_values(path):
    """Smoke mode runs the code Colab users run: its ``if SMOKE:`` blocks only choose values (sizes, counts, the tiny
    generator, the local stand-in source), they never make data, delete folders or import."""
    cells = json.loads(path.read_text())["cells"]
    problems = [f"cell {i}: {p}" for i, cell in enumerate(cells) if cell["cell_type"] == "code"
                for p in smoke_block_problems("".join(cell["source"]))]
    assert not problems, "\n".join(problems)


def _setup_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def test_every_notebook_sets_up_the_same_way():
    """One set-up cell for all (its own job name and extras aside): the Drive option, the install that reruns until it
    succeeded, start_notebook (GPU check, folders, figures that survive export)."""
    normalised = {}
    for path in NOTEBOOKS:
        source = _setup_source(path)
        assert f'start_notebook("{path.stem}", keep_on_drive=KEEP_ON_DRIVE)' in source, path.name
        extras = re.search(r'f"\{REPO\}(\[[a-z,]+\])?"', source)
        assert extras is not None, path.name
        normalised[path.name] = source.replace(path.stem, "JOB").replace(extras.group(0), 'f"{REPO}EXTRAS"')
    assert len(set(normalised.values())) == 1, "the set-up cells differ beyond the job name and extras"
    assert 'KEEP_ON_DRIVE = False  # @param {type:"boolean"}' in next(iter(normalised.values()))
