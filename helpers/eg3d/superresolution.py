"""Super-resolution heads: neural-rendered features -> final RGB image (official ``Superresolution*``).

The feature image (N, 32, R, R) and its first three channels are resized bilinearly to the head's
input resolution (128^2 for 512^2/256^2 models, 64^2 for 128^2 models), then two StyleGAN2 synthesis
blocks ("skip" architecture) refine them; both blocks use only the last w (``ws[:, -1]``) for all
their layers. The resized RGB enters the skip path of the first block; the output image is the skip
image after the last block, in about [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from helpers.eg3d.config import SuperresolutionConfig
from helpers.eg3d.layers import SynthesisBlock
from helpers.eg3d.ops import setup_filter

__all__ = ["SuperResolution"]


class SuperResolution(nn.Module):
    """Any of the official heads listed in :data:`helpers.eg3d.config.SUPERRESOLUTION_KINDS`.

    Child names (``block0``, ``block1`` and, for all but 8XDC, a top-level ``resample_filter``
    buffer) follow the official state dicts. ``conv_clamp`` (256 for official checkpoints) is applied
    in every dtype, as the official code does.
    """

    def __init__(self, cfg: SuperresolutionConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        spec = cfg.spec
        c0, c1 = cfg.block_channels
        in_res, out_res = spec["input_resolution"], cfg.img_resolution
        common = dict(w_dim=cfg.w_dim, img_channels=3, conv_clamp=cfg.conv_clamp, fused=cfg.fused_modconv,
                      generator=generator)
        if spec["first_block_up"]:
            self.block0 = SynthesisBlock(cfg.in_channels, c0, resolution=in_res * 2, is_last=False, **common)
        else:  # SynthesisBlockNoUp: same resolution as the input
            self.block0 = SynthesisBlock(cfg.in_channels, c0, resolution=in_res, is_last=False, up=1, **common)
        self.block1 = SynthesisBlock(c0, c1, resolution=out_res, is_last=True, **common)
        if self.block1.resolution != 2 * self.block0.resolution:
            raise ValueError(f"{cfg.kind}: inconsistent block resolutions")
        if spec["top_level_filter"]:
            self.register_buffer("resample_filter", setup_filter())

    @property
    def input_resolution(self) -> int:
        return int(self.cfg.spec["input_resolution"])

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        res = self.input_resolution
        size = x.shape[-1]
        if size == res or (self.cfg.spec["resize_only_if_smaller"] and size > res):
            return x
        antialias = self.cfg.antialias if self.cfg.spec["use_antialias_flag"] else False
        return F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False, antialias=antialias)

    def forward(self, rgb: torch.Tensor, features: torch.Tensor, ws: torch.Tensor,
                noise_mode: str | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """rgb (N, 3, R, R), features (N, 32, R, R), ws (N, num_ws, 512) -> image (N, 3, out, out).

        ``noise_mode`` defaults to the checkpoint's ``superresolution_noise_mode`` ('none').
        """
        noise_mode = self.cfg.noise_mode if noise_mode is None else noise_mode
        w = ws[:, -1:, :].expand(-1, 3, -1)
        x, img = self._resize(features.float()), self._resize(rgb.float())
        x, img = self.block0(x, img, w, noise_mode=noise_mode, generator=generator)
        _, img = self.block1(x, img, w, noise_mode=noise_mode, generator=generator)
        return img
