"""What every notebook's set-up cell does: smoke mode, where outputs and data go, Google Drive, the GPU check.

:func:`start_notebook` is called once by each notebook's first cell. Smoke mode (``HELPERS_SMOKE=1``, what CI runs)
takes the same code paths with tiny sizes, offline, on the CPU. Folders: outputs in :func:`outputs_root`
(``$HELPERS_OUTPUTS``; Colab ``/content/outputs``; else ``outputs/`` in the checkout), one sub-folder per notebook,
``smoke/`` in front in smoke mode; data shared between notebooks in :func:`data_root` (``$HELPERS_DATA``, else the
toolkit's cache ``<$HELPERS_CACHE>/datasets``, where ``python -m helpers datasets download`` puts a dataset). With
``keep_on_drive`` both live on Google Drive, so a reconnected runtime resumes where the last one stopped.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from helpers.base.runtime import resolve_precision
from helpers.download.http_download import CACHE_ENV, default_cache_dir

__all__ = ["DATA_ENV", "DRIVE_FOLDER", "GITHUB_REPOSITORY", "OUTPUTS_ENV", "SMOKE_ENV", "NotebookSession",
           "data_root", "describe_environment", "in_colab", "output_dir", "outputs_root", "repository_root",
           "smoke_mode", "start_notebook"]

#: Environment variable that selects smoke mode ("1", "true", "yes" or "on").
SMOKE_ENV = "HELPERS_SMOKE"
#: Environment variable naming the folder that holds every notebook's outputs.
OUTPUTS_ENV = "HELPERS_OUTPUTS"
#: Environment variable naming the folder of the data shared between notebooks (datasets, generated sets).
DATA_ENV = "HELPERS_DATA"
#: Where the notebooks' Colab badges and set-up cells clone the project from.
GITHUB_REPOSITORY = "eg3d-face-toolkit/eg3d-face-toolkit"
#: The toolkit's folder on a mounted Google Drive (outputs/ and cache/ inside).
DRIVE_FOLDER = Path("/content/drive/MyDrive/eg3d-face-toolkit")


def smoke_mode() -> bool:
    """True when the notebooks should run their tiny, offline, CPU-only variant."""
    return os.environ.get(SMOKE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def repository_root() -> Path | None:
    """The checkout this package was imported from, if it is one (it has a pyproject.toml)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def outputs_root() -> Path:
    """The folder of every notebook's outputs: ``$HELPERS_OUTPUTS``; in Colab ``/content/outputs``; else
    ``outputs/`` in the checkout (or the current directory when the package is installed elsewhere)."""
    if os.environ.get(OUTPUTS_ENV):
        return Path(os.environ[OUTPUTS_ENV]).expanduser()
    if in_colab():
        return Path("/content/outputs")
    return (repository_root() or Path.cwd()) / "outputs"


def output_dir(job: str) -> Path:
    """A notebook's or job's results folder (created): ``<outputs_root>/<job>``, ``<outputs_root>/smoke/<job>`` in
    smoke mode, so that smoke runs never mix with real results."""
    path = outputs_root() / ("smoke" if smoke_mode() else "") / job
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_root() -> Path:
    """The data the notebooks share (public datasets, generated sets): ``$HELPERS_DATA``, else
    ``<cache>/datasets`` (the registry's download folder); in smoke mode ``<outputs_root>/smoke/data``."""
    if smoke_mode():
        return outputs_root() / "smoke" / "data"
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return default_cache_dir() / "datasets"


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


@dataclass(frozen=True)
class NotebookSession:
    """What a notebook runs with (see :func:`start_notebook`).

    Attributes:
        out: this notebook's results folder; data: the shared data folder (:func:`data_root`).
        smoke: smoke mode; device: ``"cuda"`` or ``"cpu"``; precision: what ``"auto"`` resolves to there.
        drive: outputs and caches are on Google Drive.
    """

    out: Path
    data: Path
    smoke: bool
    device: str
    precision: str
    drive: bool


def _use_drive(echo: Callable[[str], None]) -> bool:
    if not in_colab():
        echo("KEEP_ON_DRIVE works in Colab; here outputs stay in " + str(outputs_root()))
        return False
    from google.colab import drive  # type: ignore[import-not-found]

    drive.mount("/content/drive")
    os.environ[OUTPUTS_ENV] = str(DRIVE_FOLDER / "outputs")
    os.environ[CACHE_ENV] = str(DRIVE_FOLDER / "cache")
    return True


def _static_figures() -> None:
    """Plotly figures carry an HTML copy beside the live one, so that an exported notebook (nbconvert HTML, a saved
    copy) still shows them; plotly.js is embedded once per notebook. Colab keeps its own renderer."""
    import plotly.io as pio

    if not in_colab():
        pio.renderers.default = "plotly_mimetype+notebook"


def start_notebook(job: str, *, keep_on_drive: bool = False, echo: Callable[[str], None] = print) -> NotebookSession:
    """Set a notebook up: Google Drive (``keep_on_drive``, Colab), figures that survive export, the device, and one
    line each on what it will use. In full mode without a GPU it warns that long steps will take hours."""
    import torch

    drive = _use_drive(echo) if keep_on_drive else False
    _static_figures()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = resolve_precision("auto", torch.device(device))
    session = NotebookSession(out=output_dir(job), data=data_root(), smoke=smoke_mode(), device=device,
                              precision=precision, drive=drive)
    echo(describe_environment())
    echo(f"device {device} ({precision}); results in {session.out}; shared data in {session.data}"
         + ("; both on Google Drive" if drive else ""))
    if device == "cpu" and not session.smoke:
        echo("WARNING: no GPU. Generation, training and PTI take hours on a CPU: in Colab choose Runtime → Change "
             "runtime type → GPU, then run the notebook again (set HELPERS_SMOKE=1 for the tiny offline run).")
    return session
