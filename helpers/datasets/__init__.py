"""Public face datasets: what they are, their licences, downloading, reading and converting them.

The catalogue (:mod:`~helpers.datasets.catalogue`, entries in :mod:`~helpers.datasets.catalogue_entries`) names
``prosopo``, ``eg3d-synthetic``, ``lpff``, ``ffhq-eg3d-labels``, ``3dfacenet-coarse`` and ``3dfacenet-fine``:
:func:`download` shows the licence first, :func:`convert` writes our dataset folder format
(``python -m helpers datasets``, :mod:`~helpers.datasets.datasets_cli`). Readers, one per family:
:mod:`~helpers.datasets.original_layouts` (the original project's published synthetic set and Prosopo),
:mod:`~helpers.datasets.ffhq_labels` (EG3D's FFHQ cameras), :mod:`helpers.datasets.lpff`,
:mod:`helpers.datasets.facenet3d`. Pictures for notebooks: :mod:`~helpers.datasets.dataset_figures`.
"""

from helpers.datasets.catalogue import (
    LicenceNotAcceptedError,
    check_layout,
    convert,
    download,
    find_root,
    get,
    licence_notice,
    names,
)
from helpers.datasets.dataset_info import DatasetInfo, SourceOption
from helpers.datasets.original_layouts import OriginalFolder, convert_original

__all__ = ["DatasetInfo", "LicenceNotAcceptedError", "OriginalFolder", "SourceOption", "check_layout", "convert",
           "convert_original", "download", "find_root", "get", "licence_notice", "names"]
