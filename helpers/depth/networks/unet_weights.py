"""Checkpoint handling of the Attention U-Net: architecture from the keys, fit checks, the published weights.

Knows the original's state-dict names but not the network class, so
:mod:`helpers.depth.networks.attention_unet` builds on it; reading files and downloading are shared with the MiDaS
DPT (:mod:`helpers.depth.networks.original_weights`):

* :func:`state_dict_architecture` infers the config fields from the keys and shapes;
* :func:`assign_state_dict` loads a state dict into a model after checking it, raising
  :class:`helpers.depth.networks.original_weights.IncompatibleCheckpointError` with a one-line message naming the
  missing/unexpected keys and shape mismatches;
* :data:`PUBLISHED_WEIGHTS`: the authors' published weights (fetch them with
  :func:`helpers.depth.networks.original_weights.download_weights`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from helpers.depth.networks.original_weights import IncompatibleCheckpointError, PublishedWeights, mismatch_summary

__all__ = ["PUBLISHED_WEIGHTS", "assign_state_dict", "state_dict_architecture"]

#: Key whose shape gives in_channels and start_filts; its absence means "not this architecture".
_FIRST_CONV = "down_convs.0.conv1.weight"
_DOWN_KEY = re.compile(r"^down_convs\.(\d+)\.conv1\.weight$")


def state_dict_architecture(state: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`~helpers.depth.networks.attention_unet.AttentionUNetConfig` fields that ``state``'s keys fix.

    in_channels and start_filts come from the first conv's shape, n_blocks from the number of
    ``down_convs.{i}`` blocks, out_channels from ``conv_final``, attention from the presence of
    ``*.attention.*`` keys (``input_size`` is not stored in weights).

    Raises:
        IncompatibleCheckpointError: ``state`` is not an Attention U-Net state dict.
    """
    if _FIRST_CONV not in state or "conv_final.weight" not in state:
        found = ", ".join(list(state)[:4]) + (", ..." if len(state) > 4 else "")
        midas = any(name.startswith("pretrained.model.") for name in state)
        hint = (" It is a MiDaS DPT checkpoint: load it with helpers.depth.networks.midas_dpt.load_midas_dpt"
                if midas else " Is this a checkpoint of another model?")
        raise IncompatibleCheckpointError(
            f"not an Attention U-Net state dict: expected keys such as {_FIRST_CONV!r} and 'conv_final.weight', "
            f"found {found}.{hint}"
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
        IncompatibleCheckpointError: one line naming the missing and unexpected keys and shape mismatches.
    """
    problems = mismatch_summary({name: t.shape for name, t in model.state_dict().items()}, state)
    if problems:
        config = model.config
        hint = ""
        has_gates = any(".attention." in name for name in state)
        if has_gates != config.attention:
            kind = "has attention gates (attention=True)" if has_gates else "has no attention gates (attention=False)"
            hint = f"; hint: the checkpoint {kind}, leave config=None to infer the architecture from its keys"
        raise IncompatibleCheckpointError(f"the state dict does not fit {config}: {problems}{hint}")
    model.load_state_dict(state, strict=True, assign=True)


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
