"""Checkpoint handling of the Attention U-Net: original state dicts, fit checks, published weights.

Knows the original's state-dict format but not the network class, so
:mod:`helpers.depth.networks.attention_unet` (which re-exports the public names) builds on it:

* :func:`read_original_state_dict` reads an original ``.pt`` checkpoint (``weights_only``) or a
  mapping of tensors / numpy arrays (an ``.npz``'s contents) into a float32 ``{name: tensor}`` dict;
* :func:`state_dict_architecture` infers the config fields from the keys and shapes;
* :func:`assign_state_dict` loads a state dict into a model after checking it, raising
  :class:`IncompatibleCheckpointError` that names every missing/unexpected key and shape mismatch;
* :data:`PUBLISHED_WEIGHTS` and :func:`download_published_weights` (Google Drive through ``gdown``,
  imported lazily) give the authors' published weights.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.base.atomic import atomic_path
from helpers.download.http_download import DownloadError, default_cache_dir

__all__ = [
    "PUBLISHED_WEIGHTS",
    "IncompatibleCheckpointError",
    "PublishedWeights",
    "assign_state_dict",
    "download_published_weights",
    "read_original_state_dict",
    "state_dict_architecture",
]

#: Key whose shape gives in_channels and start_filts; its absence means "not this architecture".
_FIRST_CONV = "down_convs.0.conv1.weight"
_DOWN_KEY = re.compile(r"^down_convs\.(\d+)\.conv1\.weight$")
#: How many names an error message lists per category before summarising.
_MAX_LISTED = 8


class IncompatibleCheckpointError(ValueError):
    """A state dict does not fit the architecture: missing/unexpected keys or wrong shapes."""


# ------------------------------------------------------------------------------ checkpoint I/O
def read_original_state_dict(
    path_or_state_dict: str | os.PathLike[str] | Mapping[str, Any], *, map_location: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Tensors of an original Attention U-Net checkpoint as a plain ``{name: tensor}`` dict.

    Files are read with ``torch.load(weights_only=True)``; a training-state dict
    (``{'epoch', 'state_dict', 'optimizer'}``, as the original notebook saved) is unwrapped. Floating
    tensors are converted to float32 (``num_batches_tracked`` stays int64). Mapping values may be
    tensors or numpy arrays; they are copied, so the model never shares memory with the caller's dict.

    Raises:
        IncompatibleCheckpointError: the file is not a plain tensor checkpoint (it needs pickled
            classes, which are never executed) or holds no state dict.
    """
    if isinstance(path_or_state_dict, Mapping):
        raw: Any = path_or_state_dict
    else:
        path = Path(path_or_state_dict).expanduser()
        try:
            raw = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            raise IncompatibleCheckpointError(
                f"{path} is not a plain PyTorch state dict: loading it would need pickled code, which is not "
                f"executed ({str(exc).splitlines()[0]})"
            ) from None
    if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping) or not raw:
        raise IncompatibleCheckpointError(
            f"expected a state dict (name -> tensor), got {type(raw).__name__}"
            + (" (empty)" if isinstance(raw, Mapping) else "")
        )
    return {str(name): _as_tensor(name, value, map_location) for name, value in raw.items()}


def _as_tensor(name: str, value: Any, device: str | torch.device) -> torch.Tensor:
    try:
        tensor = torch.as_tensor(value, device=device).detach().clone()
    except (TypeError, RuntimeError, ValueError):
        raise IncompatibleCheckpointError(
            f"state dict entry {name!r} is a {type(value).__name__}, not a tensor"
        ) from None
    return tensor.float() if tensor.is_floating_point() else tensor


def state_dict_architecture(state: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`~helpers.depth.networks.attention_unet.AttentionUNetConfig` fields that ``state``'s keys fix.

    in_channels and start_filts come from the first conv's shape, n_blocks from the number of
    ``down_convs.{i}`` blocks, out_channels from ``conv_final``, attention from the presence of
    ``*.attention.*`` keys (``input_size`` is not stored in weights).

    Raises:
        IncompatibleCheckpointError: ``state`` is not an Attention U-Net state dict.
    """
    if _FIRST_CONV not in state or "conv_final.weight" not in state:
        raise IncompatibleCheckpointError(
            f"not an Attention U-Net state dict: expected keys such as {_FIRST_CONV!r} and 'conv_final.weight', "
            f"found {_name_list(list(state))}. Is this a checkpoint of another model (e.g. MiDaS DPT)?"
        )
    first = state[_FIRST_CONV].shape
    levels = {int(m.group(1)) for key in state if (m := _DOWN_KEY.match(key))}
    return {
        "in_channels": int(first[1]),
        "out_channels": int(state["conv_final.weight"].shape[0]),
        "n_blocks": max(levels) + 1,
        "start_filts": int(first[0]),
        "attention": any(".attention." in key for key in state),
    }


def assign_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load ``state`` into ``model`` (``strict=True, assign=True``) once every key and shape fits.

    ``assign=True`` replaces the model's tensors (e.g. meta tensors of a model built under
    ``torch.device("meta")``) by the loaded ones; requires_grad is kept.

    Raises:
        IncompatibleCheckpointError: naming every missing or unexpected key and shape mismatch.
    """
    _check_state_dict(model, state)
    model.load_state_dict(state, strict=True, assign=True)


def _check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`IncompatibleCheckpointError` naming every key or shape that does not fit."""
    expected = model.state_dict()
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    shapes = [
        f"{name}: checkpoint {tuple(state[name].shape)} vs model {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    if not (missing or unexpected or shapes):
        return
    config = model.config
    problems = [f"the state dict does not fit {config}:"]
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_name_list(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_name_list(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches ({len(shapes)}): {_name_list(shapes)}")
    has_gates = any(".attention." in name for name in state)
    if has_gates != config.attention:
        kind = "has attention gates (attention=True)" if has_gates else "has no attention gates (attention=False)"
        problems.append(f"hint: the checkpoint {kind}; leave config=None to infer the architecture from its keys")
    raise IncompatibleCheckpointError("\n  ".join(problems))


def _name_list(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


# ---------------------------------------------------------------------------- published weights
@dataclass(frozen=True)
class PublishedWeights:
    """Where the original authors published a weight file.

    Attributes:
        filename: the published file name.
        gdrive_id: Google Drive file id (the "Alternative Download Link" of the original repository's
            ``models/README.md``).
        dropbox_url: the primary link of the same README (Dropbox, ``dl=0`` page link).
        sha256, size: checksum and byte count, or None where not published (they are not).
    """

    filename: str
    gdrive_id: str
    dropbox_url: str
    sha256: str | None = None
    size: int | None = None

    @property
    def gdrive_url(self) -> str:
        """Direct-download URL of the Google Drive copy."""
        return f"https://drive.google.com/uc?id={self.gdrive_id}"


#: The published Attention U-Net weights (batch 5, 10 epochs, checkpoint 9, trained on 48,000 EG3D
#: samples; attention=True, start_filts=32). Links from github.com/cantonioupao/face-depth-3D-reconstruction
#: ``models/README.md``; the training notebook itself only names a private Drive path. No checksum
#: or size is published, so a download is checked for being a PyTorch zip archive only.
PUBLISHED_WEIGHTS = PublishedWeights(
    filename="Attention_UNET_b5_e10ckp9_weights.pt",
    gdrive_id="10-4brg5EkaonV7bPWI_FpyBKpXr-kzfi",
    dropbox_url=(
        "https://www.dropbox.com/scl/fi/1cefv6qehc1k5unya5yz8/Attention_UNET_b5_e10ckp9_weights.pt"
        "?rlkey=zbsgpasy2uz4ngiqztszdbwqk&dl=0"
    ),
)

#: ``torch.save`` files are zip archives; Drive's quota/confirmation pages are HTML.
_ZIP_MAGIC = b"PK\x03\x04"


def download_published_weights(cache_dir: str | os.PathLike[str] | None = None, *, quiet: bool = False) -> Path:
    """Download :data:`PUBLISHED_WEIGHTS` from Google Drive (with ``gdown``) and return its path.

    The file goes to ``<cache_dir>/depth/<filename>`` (default cache:
    :func:`helpers.download.http_download.default_cache_dir`); an existing file there is returned without network
    access. The transfer is written to a temporary file next to it (:func:`helpers.base.atomic.atomic_path`)
    that is renamed only once it is complete and looks like a PyTorch checkpoint, so no half-written
    file ever has the final name.

    Raises:
        ImportError: ``gdown`` is not installed (``pip install gdown``).
        helpers.download.http_download.DownloadError: the transfer failed or Drive answered with something other
            than the checkpoint (e.g. a quota page); the message gives the Dropbox alternative.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = root / "depth" / PUBLISHED_WEIGHTS.filename
    if final.is_file():
        return final
    try:
        import gdown  # imported lazily: only needed for this download, not installed by default
    except ImportError:
        raise ImportError(
            "downloading the published Attention U-Net weights needs gdown: `pip install gdown`, or download "
            f"{PUBLISHED_WEIGHTS.gdrive_url} (or {PUBLISHED_WEIGHTS.dropbox_url}) yourself and pass the file to "
            "AttentionUNet.load_original_weights"
        ) from None
    # atomic_path creates the folder, removes the temporary file when the block raises and renames
    # it to the final name (atomically) when it does not.
    with atomic_path(final) as part:
        try:
            result = gdown.download(id=PUBLISHED_WEIGHTS.gdrive_id, output=str(part), quiet=quiet)
        except Exception as exc:  # noqa: BLE001 (gdown's errors vary between versions; report them in one type)
            result, error = None, f"{type(exc).__name__}: {exc}"
        else:
            error = "gdown reported a failure"
        problem = _downloaded_file_problem(part) if result else error
        if problem:
            raise DownloadError(
                f"download of {PUBLISHED_WEIGHTS.gdrive_url} failed: {problem}. Google Drive may be rate-limiting; "
                f"try again later or fetch {PUBLISHED_WEIGHTS.dropbox_url.replace('dl=0', 'dl=1')} instead"
            )
    return final


def _downloaded_file_problem(path: Path) -> str | None:
    """Why ``path`` is not a plausible downloaded checkpoint, or None."""
    if not path.is_file():
        return "no file was written"
    with open(path, "rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    return None if head == _ZIP_MAGIC else "the file is not a PyTorch checkpoint (an HTML page?)"
