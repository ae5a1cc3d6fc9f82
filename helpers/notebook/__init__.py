"""What the notebooks share: the set-up (smoke mode, output and data folders, Google Drive, the GPU check) and the
data a notebook fetches or makes when it does not have it yet.

:func:`start_notebook` is the first cell's call; :func:`generated_dataset` and :func:`public_dataset` give a notebook
its data (generated here, downloaded once, or a local stand-in in smoke mode).
"""

from helpers.notebook.notebook_data import (
    STAND_IN,
    generated_dataset,
    generated_dataset_dir,
    public_dataset,
    public_dataset_dir,
)
from helpers.notebook.notebook_session import (
    DATA_ENV,
    DRIVE_FOLDER,
    GITHUB_REPOSITORY,
    OUTPUTS_ENV,
    SMOKE_ENV,
    NotebookSession,
    data_root,
    describe_environment,
    in_colab,
    output_dir,
    outputs_root,
    repository_root,
    smoke_mode,
    start_notebook,
)

__all__ = ["DATA_ENV", "DRIVE_FOLDER", "GITHUB_REPOSITORY", "OUTPUTS_ENV", "SMOKE_ENV", "STAND_IN", "NotebookSession",
           "data_root", "describe_environment", "generated_dataset", "generated_dataset_dir", "in_colab", "output_dir",
           "outputs_root", "public_dataset", "public_dataset_dir", "repository_root", "smoke_mode", "start_notebook"]
