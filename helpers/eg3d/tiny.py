"""A small, randomly initialised EG3D generator for tests and notebook smoke mode.

Same module tree and code paths as the full model (ffhq512-128 rendering settings, 48 + 48 samples,
SuperresolutionHybrid8XDC to 512^2), but narrow: backbone ``channel_base=1024, channel_max=16``
(planes are still 3 x 32 x 256 x 256) and super-resolution blocks of 32 and 16 channels instead of
256 and 128 (the official head hard-codes its widths; this config field exists for this purpose).
Default neural rendering resolution 32. One 512^2 image takes about 0.2-0.3 s on a 2-core CPU.

State-dict names are the official ones; shapes differ from the full model where widths differ.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from helpers.eg3d.config import GeneratorConfig, RenderingConfig
from helpers.eg3d.generator import Generator

__all__ = ["tiny_config", "tiny_random"]

_SYNTHESIS_KEYS = {"channel_base", "channel_max", "conv_clamp", "fused_modconv"}
_RENDERING_KEYS = {f.name for f in dataclasses.fields(RenderingConfig)}


def tiny_config(**overrides: Any) -> GeneratorConfig:
    """Config of :func:`tiny_random`.

    ``overrides`` may name any field of :class:`GeneratorConfig` (e.g. ``neural_rendering_resolution``),
    of :class:`RenderingConfig` (e.g. ``depth_resolution``), backbone ``channel_base`` /
    ``channel_max``, or ``sr_channels`` (a pair of super-resolution widths).
    """
    base = GeneratorConfig.ffhq512_128()
    synthesis = dataclasses.replace(base.synthesis, channel_base=1024, channel_max=16)
    superresolution = dataclasses.replace(base.superresolution, channels=(32, 16))
    rendering = base.rendering
    top: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in _SYNTHESIS_KEYS:
            synthesis = dataclasses.replace(synthesis, **{key: value})
        elif key == "sr_channels":
            superresolution = dataclasses.replace(superresolution, channels=tuple(value))
        elif key in _RENDERING_KEYS:
            rendering = dataclasses.replace(rendering, **{key: value})
        elif key in {f.name for f in dataclasses.fields(GeneratorConfig)}:
            top[key] = value
        else:
            raise TypeError(f"tiny_config() got an unexpected override {key!r}")
    top.setdefault("neural_rendering_resolution", 32)
    return base.replace(synthesis=synthesis, superresolution=superresolution, rendering=rendering, **top)


def tiny_random(seed: int = 0, device: torch.device | str = "cpu", **overrides: Any) -> Generator:
    """Tiny generator with random weights, deterministic in ``seed`` (global RNG untouched).

    Weights follow the official initialisation, then (as in the reference fixture) biases, noise
    strengths and ``w_avg`` get small random values so that every code path sees non-trivial numbers.
    """
    gen = torch.Generator().manual_seed(seed)
    model = Generator(tiny_config(**overrides), generator=gen)
    with torch.no_grad():
        for name, tensor in model.state_dict(keep_vars=True).items():
            if name.endswith("bias") and not name.endswith("affine.bias"):
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=gen))
            elif name.endswith("noise_strength"):
                tensor.copy_(0.05 * torch.randn(tensor.shape, generator=gen))
            elif name.endswith("w_avg"):
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=gen))
    return model.to(device)
