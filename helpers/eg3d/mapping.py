"""Mapping network: latent z (N, z_dim) and camera label c (N, 25) -> ws (N, num_ws, w_dim)."""

from __future__ import annotations

import torch
from torch import nn

from helpers.eg3d.config import MappingConfig
from helpers.eg3d.layers import FullyConnectedLayer
from helpers.eg3d.ops import normalize_2nd_moment

__all__ = ["MappingNetwork", "truncate"]


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """Truncation trick: ``w_avg + psi * (w - w_avg)`` on the first ``cutoff`` ws (all if None)."""
    if psi == 1:
        return ws
    w_avg = w_avg.to(ws.dtype)  # under autocast the fc layers return bf16/fp16 while the buffer stays fp32
    if cutoff is None:
        return w_avg.lerp(ws, psi)
    ws = ws.clone()
    ws[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], psi)
    return ws


class MappingNetwork(nn.Module):
    """StyleGAN2 mapping network conditioned on the camera (official ``MappingNetwork``).

    State: ``w_avg`` (running mean of w, used by truncation), ``embed`` (c -> 512, lr multiplier 1),
    ``fc0..fc{L-1}`` (leaky ReLU 0.2 with gain sqrt(2), lr multiplier 0.01).
    """

    def __init__(self, cfg: MappingConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        embed = cfg.embed_features if cfg.embed_features is not None else cfg.w_dim
        if cfg.c_dim == 0:
            embed = 0
        hidden = cfg.layer_features if cfg.layer_features is not None else cfg.w_dim
        features = [cfg.z_dim + embed] + [hidden] * (cfg.num_layers - 1) + [cfg.w_dim]
        if cfg.c_dim > 0:
            self.embed = FullyConnectedLayer(cfg.c_dim, embed, generator=generator)
        for i in range(cfg.num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation="lrelu",
                                                        lr_multiplier=cfg.lr_multiplier, generator=generator))
        self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        cfg = self.cfg
        parts = []
        if cfg.z_dim > 0:
            _check(z, cfg.z_dim, "z")
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if cfg.c_dim > 0:
            _check(c, cfg.c_dim, "c")
            if cfg.c_zero:
                c = torch.zeros_like(c)
            if cfg.c_fixed is not None:  # LPFF var3: conditioned on its average camera only
                c = torch.tensor(cfg.c_fixed, dtype=c.dtype, device=c.device).expand(c.shape[0], -1)
            c = c * cfg.c_scale
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(cfg.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat([1, cfg.num_ws, 1])
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)


def _check(t: torch.Tensor, dim: int, name: str) -> None:
    if t.ndim != 2 or t.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got {tuple(t.shape)}")
