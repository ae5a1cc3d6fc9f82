"""Input conventions of the depth models (square side, RGB mean / std) and the batch normalisation they need.

:data:`MODEL_INPUTS` names each model; :func:`normalize_images` applies its ``(x − mean) / std`` to a batch of
RGB in [0, 1] (on the GPU, after the loader); :meth:`helpers.depth.data.depth_dataset.DepthDatasetConfig.for_model`
takes its image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from helpers.depth.networks.attention_unet import AttentionUNetConfig
from helpers.depth.networks.dpt_config import BACKBONES


@dataclass(frozen=True)
class ModelInput:
    """What a depth model expects: square input side in pixels and per-channel mean / std of RGB in [0, 1]."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


#: Input conventions of the depth models: ``"attention_unet"`` (the original's 128², ``(x − 0.5)/0.5``, as
#: :meth:`helpers.depth.networks.attention_unet.AttentionUNet.predict`) and every backbone of
#: :data:`helpers.depth.networks.dpt_config.BACKBONES` by name (``"dpt-large"``: 384², mean = std = 0.5; ``"depth-anything-v2-small"``:
#: 518², ImageNet mean / std; …), with the numbers those modules define.
MODEL_INPUTS: dict[str, ModelInput] = {
    "attention_unet": ModelInput(AttentionUNetConfig.input_size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    **{name: ModelInput(spec.input_size, spec.mean, spec.std) for name, spec in BACKBONES.items()},
}


def get_model_input(model: str | ModelInput) -> ModelInput:
    """The :class:`ModelInput` of a model named in :data:`MODEL_INPUTS` (a ``ModelInput`` passes through)."""
    if isinstance(model, ModelInput):
        return model
    if model not in MODEL_INPUTS:
        raise ValueError(f"unknown model {model!r}; known: {sorted(MODEL_INPUTS)} (or pass a ModelInput)")
    return MODEL_INPUTS[model]


def normalize_images(images: torch.Tensor, model: str | ModelInput) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] → the model's normalised input ``(x − mean) / std`` (same device and dtype).

    Meant for the batch on the GPU, after the loader (cheaper than per item)."""
    spec = get_model_input(model)
    mean = torch.tensor(spec.mean, dtype=images.dtype, device=images.device).view(3, 1, 1)
    std = torch.tensor(spec.std, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return (images - mean) / std
