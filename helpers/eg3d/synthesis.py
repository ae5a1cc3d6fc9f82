"""StyleGAN2 synthesis backbone: ws (N, 14, 512) -> tri-plane features (N, 96, 256, 256).

The module tree mirrors the official one (``backbone.synthesis.b4 ... b256`` and
``backbone.mapping``) so that official state dicts load with ``strict=True``.
"""

from __future__ import annotations

import torch
from torch import nn

from helpers.eg3d.config import MappingConfig, SynthesisConfig
from helpers.eg3d.layers import NOISE_MODES, SynthesisBlock
from helpers.eg3d.mapping import MappingNetwork

__all__ = ["SynthesisNetwork", "Backbone"]


class SynthesisNetwork(nn.Module):
    """Blocks ``b4 ... b{img_resolution}``; "skip" architecture sums every block's toRGB output."""

    def __init__(self, cfg: SynthesisConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        self.num_ws = 0
        for res in cfg.block_resolutions:
            in_ch = cfg.channels(res // 2) if res > 4 else 0
            block = SynthesisBlock(
                in_ch, cfg.channels(res), w_dim=cfg.w_dim, resolution=res, img_channels=cfg.img_channels,
                is_last=res == cfg.img_resolution, architecture=cfg.architecture, conv_clamp=cfg.conv_clamp,
                use_noise=cfg.use_noise, fused=cfg.fused_modconv, generator=generator)
            self.num_ws += block.num_conv + (block.num_torgb if res == cfg.img_resolution else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                generator: torch.Generator | None = None) -> torch.Tensor:
        """ws: (N, num_ws, w_dim) -> (N, img_channels, R, R) float32."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.cfg.w_dim:
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.cfg.w_dim}), got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.cfg.block_resolutions:
            block: SynthesisBlock = getattr(self, f"b{res}")
            # Consecutive blocks share one w: a block's torgb uses the w of the next block's conv0.
            cur = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, cur, noise_mode=noise_mode, generator=generator)
        return img


class Backbone(nn.Module):
    """Official ``StyleGAN2Backbone`` container: ``synthesis`` then ``mapping`` (state-dict order)."""

    def __init__(self, mapping: MappingConfig, synthesis: SynthesisConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.synthesis = SynthesisNetwork(synthesis, generator=generator)
        if mapping.num_ws != self.synthesis.num_ws:
            raise ValueError(f"mapping num_ws {mapping.num_ws} != synthesis num_ws {self.synthesis.num_ws}")
        self.mapping = MappingNetwork(mapping, generator=generator)
