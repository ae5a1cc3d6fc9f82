"""What the notebooks share: smoke mode, where outputs go, and environment facts.

Every notebook's first cell sets the package up (in Colab: clone + install; locally: the
checkout's virtual environment) and then calls :func:`smoke_mode`. Smoke mode is selected by
the environment variable ``HELPERS_SMOKE=1`` (CI sets it): the same code paths run with tiny
sizes (a tiny random generator, a handful of samples, one short epoch), offline and on CPU.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

#: Environment variable that selects smoke mode ("1", "true", "yes" or "on").
SMOKE_ENV = "HELPERS_SMOKE"
#: Where the notebooks' Colab badges and set-up cells clone the project from.
GITHUB_REPOSITORY = "eg3d-face-toolkit/eg3d-face-toolkit"


def smoke_mode() -> bool:
    """True when the notebooks should run their tiny, offline, CPU-only variant."""
    return os.environ.get(SMOKE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def repository_root() -> Path | None:
    """The checkout this package was imported from, if it is one (it has a pyproject.toml)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def output_dir(job: str) -> Path:
    """Folder for a notebook's or job's results: ``outputs/<job>`` in the checkout (or the
    current directory when the package is installed elsewhere); ``/content/outputs/<job>`` in Colab.
    Smoke runs write to ``outputs/smoke/<job>`` so they never mix with real results."""
    if in_colab():
        base = Path("/content/outputs")
    else:
        base = (repository_root() or Path.cwd()) / "outputs"
    path = base / ("smoke" if smoke_mode() else "") / job
    path.mkdir(parents=True, exist_ok=True)
    return path


def describe_environment() -> str:
    """One line about where we run: Python, torch, device, smoke mode."""
    import torch

    if torch.cuda.is_available():
        device = f"CUDA ({torch.cuda.get_device_name(0)})"
    else:
        device = "CPU"
    mode = "smoke mode (tiny sizes, offline)" if smoke_mode() else "full mode"
    where = "Colab" if in_colab() else platform.node() or "local"
    return f"Python {platform.python_version()}, torch {torch.__version__}, {device}, {where}, {mode}"
