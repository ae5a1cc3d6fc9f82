"""Tri-plane feature sampling and the OSG decoder (features -> density and colour features).

Planes are stored as (N, 3, C, H, W) with C = 32; the backbone's 96 channels are the three planes
as channel blocks 0-31, 32-63 and 64-95. A world point p (world units) is scaled by 2/box_warp and
projected onto the planes as:

* plane 0: (x, y)
* plane 1: (x, z)
* plane 2: (z, x)  -- the official code meant (y, z); all official checkpoints were trained with
  this axis mix-up (NVlabs/eg3d#30, #67), so it is reproduced. LPFF's "fixed" checkpoints use
  (z, y); the axes are a :class:`~helpers.eg3d.config.RenderingConfig` field.

The first coordinate indexes the plane's width axis, the second its height axis; sampling is
bilinear with ``align_corners=False`` and zero padding outside [-1, 1]. The decoder averages the three
32-d samples (:class:`TriplaneSampler` does sampling and averaging in one gather).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from helpers.eg3d.config import OFFICIAL_PLANE_AXES
from helpers.eg3d.layers import FullyConnectedLayer
from helpers.eg3d.ops import can_overwrite

__all__ = ["PLANE_AXES", "project_to_planes", "sample_triplane", "TriplaneSampler", "OSGDecoder"]

#: For each plane, the indices of the world axes used as (width, height) coordinates (official).
PLANE_AXES: tuple[tuple[int, int], ...] = OFFICIAL_PLANE_AXES

AxisPairs = Sequence[Sequence[int]]


def _plane_coords(points: torch.Tensor, box_warp: float, axes: AxisPairs) -> torch.Tensor:
    """(N, P, 3) world points -> (N, P, 3 planes, 2) coordinates in grid_sample units ([-1, 1] = box)."""
    idx = torch.tensor([a for pair in axes for a in pair], device=points.device)
    p = points * (2.0 / box_warp)
    return p.index_select(-1, idx).reshape(*p.shape[:-1], 3, 2)


def project_to_planes(points: torch.Tensor, box_warp: float, axes: AxisPairs = PLANE_AXES) -> torch.Tensor:
    """(N, P, 3) world points -> (N, 3, P, 2) normalised plane coordinates in grid_sample units."""
    return _plane_coords(points, box_warp, axes).transpose(-3, -2)


def sample_triplane(planes: torch.Tensor, points: torch.Tensor, box_warp: float,
                    axes: AxisPairs = PLANE_AXES) -> torch.Tensor:
    """Bilinear features of every plane at ``points`` (reference path, ``grid_sample``).

    planes: (N, 3, C, H, W); points: (N, P, 3) in world units. Returns (N, 3, P, C), not averaged.
    """
    n, n_planes, c, h, w = planes.shape
    grid = project_to_planes(points, box_warp, axes).to(planes.dtype)  # (N, 3, P, 2)
    out = F.grid_sample(planes.reshape(n * n_planes, c, h, w), grid.reshape(n * n_planes, 1, -1, 2),
                        mode="bilinear", padding_mode="zeros", align_corners=False)  # (N*3, C, 1, P)
    return out.reshape(n, n_planes, c, -1).transpose(-1, -2)


class TriplaneSampler:
    """Plane-averaged bilinear features, prepared once per set of planes (the renderer's hot path).

    Same result as ``sample_triplane(...).mean(1)`` up to float rounding (~1e-7). On CPU, the 3 planes
    x 4 corners of each point are gathered with one ``embedding_bag`` from a channels-last copy of
    the planes with a one-texel zero border (weights include the 1/3 of the mean; the border gives
    zero padding without masks). ``grid_sample`` on the (C, H, W) layout reads 32 scattered values
    per corner and is several times slower there. Other devices use ``grid_sample``.
    Differentiable with respect to planes and points.
    """

    def __init__(self, planes: torch.Tensor, box_warp: float, axes: AxisPairs = PLANE_AXES,
                 use_gather: bool | None = None):
        if planes.ndim != 5 or planes.shape[1] != 3:
            raise ValueError(f"planes must be (N, 3, C, H, W), got {tuple(planes.shape)}")
        self.planes, self.box_warp, self.axes = planes, float(box_warp), tuple(tuple(a) for a in axes)
        self.use_gather = planes.device.type == "cpu" if use_gather is None else use_gather
        if not self.use_gather:
            return
        n, _, c, h, w = planes.shape
        dev, dt = planes.device, planes.dtype
        # Border: 1 texel before, 2 after, so corners of coordinates clamped to [-1, size] stay inside.
        padded = F.pad(planes.reshape(n * 3, c, h, w), (1, 2, 1, 2))
        self.table = padded.permute(0, 2, 3, 1).reshape(-1, c)  # row = ((n*3 + k)*(H+3) + y+1)*(W+3) + x+1
        # points @ select: the (u, v) world coordinate of every plane, times 2/box_warp (exact selection).
        select = torch.zeros(3, 6, dtype=dt, device=dev)
        for k, (u, v) in enumerate(self.axes):
            select[u, 2 * k] = select[v, 2 * k + 1] = 2.0 / self.box_warp
        self.select = select
        self.size = torch.tensor([w, h] * 3, dtype=dt, device=dev)
        # Row of corner (x0, y0) = x0 + (W+3) * y0 + offset; corners (x1,y0), (x0,y1), (x1,y1) follow.
        self.row_step = w + 3
        self.offset = (torch.arange(3, device=dev) * ((h + 3) * (w + 3)) + (w + 3) + 1).reshape(1, 1, 3)
        self.batch_step = 3 * (h + 3) * (w + 3)
        self.corners = torch.tensor([0, 1, w + 3, w + 4], device=dev)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """points (N, P, 3) world units -> (N, P, C)."""
        if not self.use_gather:
            return sample_triplane(self.planes, points, self.box_warp, self.axes).mean(1)
        n, _, c, h, w = self.planes.shape
        p = points.shape[1]
        # grid_sample's align_corners=False un-normalisation ((g + 1) * size - 1) / 2, in place;
        # clamping to the zero border keeps far-away points at exactly zero.
        g = torch.matmul(points.to(self.planes.dtype), self.select)  # (N, P, 6) = (x, y) per plane
        g = g.add_(1).mul_(self.size).sub_(1).div_(2)
        g = torch.minimum(g.clamp_(min=-1), self.size)
        g0 = g.floor()
        frac = g - g0
        w0 = (g0 + 1).sub_(g).reshape(n, p, 3, 2)  # weights of the lower corners, per (x, y)
        w1 = frac.reshape(n, p, 3, 2)
        wy0, wy1 = w0[..., 1] * (1.0 / 3.0), w1[..., 1] * (1.0 / 3.0)  # 1/3: the mean over planes
        weight = torch.stack((wy0 * w0[..., 0], wy0 * w1[..., 0], wy1 * w0[..., 0], wy1 * w1[..., 0]), -1)
        g0 = g0.long().reshape(n, p, 3, 2)
        row = g0[..., 1] * self.row_step + g0[..., 0] + self.offset  # (N, P, 3)
        if n > 1:
            row = row + (torch.arange(n, device=row.device) * self.batch_step).reshape(n, 1, 1)
        index = row.unsqueeze(-1) + self.corners  # (N, P, 3, 4)
        out = F.embedding_bag(index.reshape(n * p, 12), self.table, per_sample_weights=weight.reshape(n * p, 12),
                              mode="sum")
        return out.reshape(n, p, -1)


def _linear(fc: FullyConnectedLayer, x: torch.Tensor) -> torch.Tensor:
    """``fc(x)`` for 2-D x; on CPU as matmul then an in-place bias add (addmm first copies the
    broadcast bias into its output, a full extra pass over the large activation; an in-place add is
    safe for autograd)."""
    if x.device.type != "cpu" or fc.bias is None:
        return fc(x)
    w = fc.weight.to(x.dtype) * fc.weight_gain
    b = fc.bias.to(x.dtype)
    if fc.bias_gain != 1:
        b = b * fc.bias_gain
    return torch.mm(x, w.t()).add_(b)


class OSGDecoder(nn.Module):
    """Two-layer MLP on the plane-averaged feature: FC 32->64, softplus, FC 64->(1 + 32).

    Output channel 0 is the raw density sigma (no activation here; the renderer applies
    ``softplus(sigma - 1)``); channels 1..32 become colour features ``sigmoid(x) * 1.002 - 0.001``
    (the first three are RGB in [0, 1]).
    """

    def __init__(self, n_features: int = 32, hidden: int = 64, out_features: int = 32, lr_multiplier: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.net = nn.Sequential(
            FullyConnectedLayer(n_features, hidden, lr_multiplier=lr_multiplier, generator=generator),
            nn.Softplus(),
            FullyConnectedLayer(hidden, 1 + out_features, lr_multiplier=lr_multiplier, generator=generator),
        )

    def hidden(self, features: torch.Tensor) -> torch.Tensor:
        """Plane-averaged features (N, P, C) -> (N*P, hidden) activations after the softplus."""
        h = _linear(self.net[0], features.reshape(-1, features.shape[-1]))
        if h.device.type == "cpu" and can_overwrite(h):  # in place: saves a large allocation per query
            return torch.ops.aten.softplus.out(h, 1, 20, out=h)
        return self.net[1](h)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Plane-averaged features (N, P, C) (official: per-plane (N, 3, P, C), averaged here too)
        -> {'sigma': (N, P, 1) raw density, 'rgb': (N, P, 32) features in (-0.001, 1.001)}."""
        if features.ndim == 4:
            features = features.mean(1)
        n, p, _ = features.shape
        x = _linear(self.net[2], self.hidden(features)).reshape(n, p, -1)
        rgb = torch.sigmoid(x[..., 1:])
        rgb = rgb.mul_(1 + 2 * 0.001).sub_(0.001) if can_overwrite(rgb) else rgb * (1 + 2 * 0.001) - 0.001
        return {"sigma": x[..., :1], "rgb": rgb}

    def density(self, features: torch.Tensor) -> torch.Tensor:
        """Raw sigma only (N, P, 1): evaluates just the first output row of the last layer."""
        if features.ndim == 4:
            features = features.mean(1)
        n, p, _ = features.shape
        fc: FullyConnectedLayer = self.net[2]
        h = self.hidden(features)
        w = fc.weight[:1].to(h.dtype) * fc.weight_gain
        b = fc.bias[:1].to(h.dtype) * fc.bias_gain
        return torch.addmm(b.unsqueeze(0), h, w.t()).reshape(n, p, 1)
