"""pytest (nbmake) runs every notebook in smoke mode: tiny sizes, offline, CPU.

Each notebook runs alone: its kernel starts with empty folders of its own for outputs, shared data and the cache
(``outputs/notebook-runs/<notebook>/``, emptied first and kept afterwards to look at), so no notebook can lean on
another's results. The summary at the end lists each notebook's time.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HELPERS_SMOKE", "1")

RUNS = Path(__file__).resolve().parents[1] / "outputs" / "notebook-runs"
_TIMES: dict[str, float] = {}
_SAVED: dict[str, str | None] = {}


def _is_notebook(item: pytest.Item) -> bool:
    return item.path.suffix == ".ipynb"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _is_notebook(item):
        return
    own = RUNS / item.path.stem
    shutil.rmtree(own, ignore_errors=True)
    own.mkdir(parents=True)
    for name, value in (("HELPERS_OUTPUTS", own / "outputs"), ("HELPERS_CACHE", own / "cache")):
        _SAVED[name] = os.environ.get(name)
        os.environ[name] = str(value)  # the notebook's kernel starts with these


def pytest_runtest_teardown(item: pytest.Item) -> None:
    if not _is_notebook(item):
        return
    for name, value in _SAVED.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _SAVED.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.nodeid.endswith(".ipynb"):
        _TIMES[report.nodeid] = report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _TIMES:
        return
    terminalreporter.section("notebooks in smoke mode (each alone, from empty folders)")
    for nodeid, seconds in sorted(_TIMES.items()):
        terminalreporter.write_line(f"{seconds:7.1f} s  {nodeid}")
    terminalreporter.write_line(f"{sum(_TIMES.values()):7.1f} s  in all")
