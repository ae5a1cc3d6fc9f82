"""The original project's weight files: reading them safely, checking their fit, downloading the published ones.

Shared by the Attention U-Net (:mod:`helpers.depth.networks.unet_weights`) and the MiDaS DPT
(:mod:`helpers.depth.networks.midas_dpt`), which know their own key names:

* :func:`read_original_state_dict`: a ``.pt`` file (the one safe loader of :mod:`helpers.base.weights_file`), a
  training-state dict or a mapping of tensors / numpy arrays -> a float32 ``{name: tensor}`` dict;
* :func:`mismatch_summary`: one line naming the missing and unexpected keys and the shape mismatches of a state
  dict against the shapes a model expects (:class:`IncompatibleCheckpointError` carries it);
* :class:`PublishedWeights` and :func:`download_weights`: a file the authors published (Dropbox, then the
  Google Drive copy), downloaded once through :func:`helpers.download.http_download.download` into
  ``<cache>/depth/<filename>``, checked to be a PyTorch zip checkpoint, its sha256 recorded beside it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from helpers.base.weights_file import read_weights
from helpers.download.http_download import DownloadError, default_cache_dir, download, remove_download

__all__ = [
    "ORIGINAL_LICENCE",
    "IncompatibleCheckpointError",
    "PublishedWeights",
    "download_weights",
    "mismatch_summary",
    "read_original_state_dict",
]

#: How many names an error message lists per category before summarising.
_MAX_LISTED = 8
#: ``torch.save`` files are zip archives; the file hosts' quota or confirmation pages are HTML.
_ZIP_MAGIC = b"PK\x03\x04"


class IncompatibleCheckpointError(ValueError):
    """A state dict does not fit the architecture: missing/unexpected keys or wrong shapes."""


# ------------------------------------------------------------------------------ checkpoint I/O
def read_original_state_dict(
    path_or_state_dict: str | os.PathLike[str] | Mapping[str, Any], *, map_location: str | torch.device = "cpu",
    what: str = "original checkpoint", expected: str = "a PyTorch state dict of the original project (.pt)",
) -> dict[str, torch.Tensor]:
    """Tensors of an original checkpoint as a plain ``{name: tensor}`` dict.

    Files are read with :func:`helpers.base.weights_file.read_weights` (``torch.load(weights_only=True)``: no code
    from the file runs; ``what`` and ``expected`` name the file in its errors); a training-state dict
    (``{'epoch', 'state_dict', 'optimizer'}``, as the original notebooks saved) is unwrapped. Floating
    tensors are converted to float32 (``num_batches_tracked`` stays int64). Mapping values may be
    tensors or numpy arrays; they are copied, so a model never shares memory with the caller's dict.

    Raises:
        helpers.base.weights_file.WeightsFileError: the file is missing, empty, truncated, not a torch.save file, or
            needs pickled code to load (:class:`~helpers.base.weights_file.UnsafeWeightsError`, never executed).
        IncompatibleCheckpointError: the file holds no state dict.
    """
    if isinstance(path_or_state_dict, Mapping):
        raw: Any = path_or_state_dict
        copy = True
    else:
        raw = read_weights(path_or_state_dict, what=what, expected=expected)  # on the CPU; moved below
        copy = False  # freshly loaded: nobody else holds these tensors
    if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping) or not raw:
        raise IncompatibleCheckpointError(
            f"expected a state dict (name -> tensor), got {type(raw).__name__}"
            + (" (empty)" if isinstance(raw, Mapping) else "")
        )
    return {str(name): _as_tensor(name, value, map_location, copy) for name, value in raw.items()}


def _as_tensor(name: str, value: Any, device: str | torch.device, copy: bool) -> torch.Tensor:
    try:
        tensor = torch.as_tensor(value, device=device).detach()
    except (TypeError, RuntimeError, ValueError):
        raise IncompatibleCheckpointError(
            f"state dict entry {name!r} is a {type(value).__name__}, not a tensor"
        ) from None
    if tensor.is_floating_point() and tensor.dtype != torch.float32:
        return tensor.float()  # a new tensor already
    return tensor.clone() if copy else tensor


def mismatch_summary(expected: Mapping[str, tuple[int, ...] | torch.Size],
                     state: Mapping[str, torch.Tensor]) -> str | None:
    """One line naming the keys of ``expected`` (name -> shape) missing from ``state``, the keys of ``state`` not
    expected and the shape mismatches, e.g. ``"missing keys (2): a, b; shape mismatches (1): c: checkpoint (3,) vs
    model (4,)"``; None when everything fits."""
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    shapes = [
        f"{name}: checkpoint {tuple(state[name].shape)} vs model {tuple(shape)}"
        for name, shape in expected.items()
        if name in state and tuple(state[name].shape) != tuple(shape)
    ]
    parts = [f"{label} ({len(names)}): {_name_list(names)}"
             for label, names in (("missing keys", missing), ("unexpected keys", unexpected),
                                  ("shape mismatches", shapes)) if names]
    return "; ".join(parts) or None


def _name_list(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


# ---------------------------------------------------------------------------- published weights
#: The terms of the original project's published weights: its repositories state no licence of their own, and the
#: models were trained on renders of EG3D, whose licence is non-commercial.
ORIGINAL_LICENCE = ("no licence stated by the authors (github.com/cantonioupao); trained on EG3D renders, which come "
                    "under the NVIDIA Source Code License for EG3D: non-commercial research use only")


@dataclass(frozen=True)
class PublishedWeights:
    """A weight file the original authors published (github.com/cantonioupao/face-depth-3D-reconstruction,
    ``models/README.md``: a Dropbox "Download link" and a Google Drive "Alternative Download Link").

    Attributes:
        filename: the published file name (also its name in the cache).
        gdrive_id: Google Drive file id.
        dropbox_url: the README's Dropbox link as published (``dl=0``: a web page).
        sha256, size: checksum and byte count, or None where not published (they are not: the downloader then
            records the sha256 of the first download beside the file and checks the cached file against it).
        urls: download URLs, tried in order; default (empty): Dropbox's direct link (``dl=1``), then
            :attr:`gdrive_url`.
        cache_folder: the folder of the toolkit's cache the file goes to (``"depth"``, ``"latent"``).
        licence: the terms the file comes under (:data:`ORIGINAL_LICENCE` unless the authors say otherwise).
    """

    filename: str
    gdrive_id: str
    dropbox_url: str
    sha256: str | None = None
    size: int | None = None
    urls: tuple[str, ...] = ()
    cache_folder: str = "depth"
    licence: str = ""

    def __post_init__(self) -> None:
        if not self.urls:  # frozen: the resolved defaults are written once, here
            object.__setattr__(self, "urls", (self.dropbox_url.replace("dl=0", "dl=1"), self.gdrive_url))
        if not self.licence:
            object.__setattr__(self, "licence", ORIGINAL_LICENCE)

    @property
    def gdrive_url(self) -> str:
        """Direct-download URL of the Google Drive copy (``confirm=t`` skips the large-file warning page)."""
        return f"https://drive.usercontent.google.com/download?id={self.gdrive_id}&export=download&confirm=t"


def download_weights(weights: PublishedWeights, cache_dir: str | os.PathLike[str] | None = None, *,
                     progress: bool = True) -> Path:
    """The local path of ``weights``, downloaded on first use into ``<cache_dir>/<cache_folder>/<filename>``.

    Default cache: :func:`helpers.download.http_download.default_cache_dir`. A cached file that passes the
    downloader's check (the given or recorded sha256) is returned without network access. Each URL of
    :attr:`PublishedWeights.urls` is tried in turn; a download that is not a PyTorch zip checkpoint (an HTML page
    served with a binary content type, a truncated file) is deleted and counts as a failure.

    Raises:
        helpers.download.http_download.DownloadError: every URL failed; the message names each failure and where to
            put a file downloaded by hand.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = root / weights.cache_folder / weights.filename
    errors = []
    for url in weights.urls:
        try:
            path = download(url, final, sha256=weights.sha256, size=weights.size, progress=progress,
                            reject_html=True)
        except DownloadError as exc:
            errors.append(str(exc))
            continue
        with open(path, "rb") as f:
            head = f.read(len(_ZIP_MAGIC))
        if head == _ZIP_MAGIC:
            return path
        remove_download(path)
        errors.append(f"{url} gave a file that is not a PyTorch checkpoint (an HTML page?)")
    raise DownloadError(
        f"could not download {weights.filename}: {'; '.join(errors)}. The hosts may be rate-limiting: try again "
        f"later, or download it in a browser from {weights.dropbox_url} and put it at {final}"
    )
