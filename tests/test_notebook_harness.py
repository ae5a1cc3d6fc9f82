"""Every notebook follows the harness: Colab badge for its own path, set-up cell, smoke flag."""

from __future__ import annotations

import json
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
    assert "smoke_mode()" in source
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
