"""Fixtures of the download tests: a local HTTP file server and a private cache (and home) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.download import fetch_kaggle
from tests.local_http import FileServer, serving


@pytest.fixture
def server() -> Iterator[FileServer]:
    """A file server on 127.0.0.1 with no files yet: tests put theirs in ``server.files``."""
    with serving(FileServer(files={})) as state:
        yield state


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Own cache per test (through ``HELPERS_CACHE``); no Kaggle credentials from the machine; no Colab."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("HELPERS_CACHE", str(folder))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(fetch_kaggle, "_colab_secret", lambda name: None)
    return folder
