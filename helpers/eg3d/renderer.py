"""Two-pass volume renderer of EG3D (official ``ImportanceRenderer`` + ``MipRayMarcher2``).

Per ray (depths are distances along unit rays, world units):

1. ``S`` stratified depths ``linspace(ray_start, ray_end, S)[s] + u * (ray_end - ray_start)/(S - 1)``
   with u ~ U[0, 1) (samples may pass ``ray_end`` by up to one step, as in the official code);
2. composite the coarse samples, smooth the weights (max-pool 2, avg-pool 2, +0.01) and draw ``S_imp``
   importance depths by inverse-CDF sampling over the midpoints of the coarse depths;
3. merge and sort all samples, composite again.

Compositing works on consecutive sample pairs: colour, raw sigma and depth are averaged at the
midpoint, ``density = softplus(sigma - 1)``, ``alpha = 1 - exp(-density * delta)``, weights are alpha
times the exclusive transmittance (with the official +1e-10). Colours are mapped to ``2 * c - 1``.
Depth is ``sum(w * t) / sum(w)``; rays with zero weight get +inf, then everything is clamped to the
[min, max] of all sample depths of the whole batch (an official quirk: the clamp range depends on
the batch, by at most one stratified jitter step). ``white_back`` adds ``1 - sum(w)`` before mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from helpers.eg3d.config import RenderingConfig
from helpers.eg3d.ops import autocast_dtype
from helpers.eg3d.triplane import OSGDecoder, TriplaneSampler

__all__ = ["RenderDraws", "RenderResult", "composite", "sample_weights", "expected_depth", "stratified_depths",
           "importance_depths", "render_rays", "DEFAULT_RAY_CHUNK"]

#: Rays per batch entry rendered at once: on CPU, ~50k samples per pass keep temporaries small.
DEFAULT_RAY_CHUNK = 1024


@dataclass
class RenderDraws:
    """The uniform [0, 1) random numbers the renderer consumes, in the official draw order.

    stratified: (N, R, S, 1) jitter of the coarse depths; importance: (N*R, S_imp) inverse-CDF
    variates, row ``n * R + m`` for batch n, ray m. Passing recorded draws reproduces a render exactly.
    """

    stratified: torch.Tensor
    importance: torch.Tensor

    @classmethod
    def sample(cls, n: int, rays: int, cfg: RenderingConfig, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> "RenderDraws":
        """Draw both tensors (stratified first) from ``generator`` (or the global RNG if None)."""
        gen_dev = generator.device if generator is not None else device
        strat = torch.rand((n, rays, cfg.depth_resolution, 1), generator=generator, device=gen_dev)
        imp = torch.rand((n * rays, cfg.depth_resolution_importance), generator=generator, device=gen_dev)
        return cls(strat.to(device) if device is not None else strat, imp.to(device) if device is not None else imp)

    def rays(self, start: int, stop: int, n: int) -> "RenderDraws":
        """The draws of rays [start, stop) of every batch entry (for chunked rendering)."""
        imp = self.importance.reshape(n, -1, self.importance.shape[-1])[:, start:stop]
        return RenderDraws(self.stratified[:, start:stop], imp.reshape(-1, imp.shape[-1]))


@dataclass
class RenderResult:
    """Per-ray outputs. features: (N, M, C) in about [-1, 1]; depth: (N, M, 1) along the ray (world
    units, clamped); weights_sum: (N, M, 1) accumulated opacity; depths_fine: (N, M, S_imp, 1)
    importance depths in sampler order (None without importance sampling)."""

    features: torch.Tensor
    depth: torch.Tensor
    weights_sum: torch.Tensor
    depths_fine: torch.Tensor | None


def stratified_depths(cfg: RenderingConfig, u: torch.Tensor) -> torch.Tensor:
    """Coarse depths (N, R, S, 1) from jitter ``u`` (N, R, S, 1)."""
    s = cfg.depth_resolution
    if cfg.disparity_space_sampling:
        t = torch.linspace(0, 1, s, device=u.device).reshape(1, 1, s, 1) + u * (1 / (s - 1))
        return 1.0 / (1.0 / cfg.ray_start * (1.0 - t) + 1.0 / cfg.ray_end * t)
    base = torch.linspace(cfg.ray_start, cfg.ray_end, s, device=u.device).reshape(1, 1, s, 1)
    return base + u * ((cfg.ray_end - cfg.ray_start) / (s - 1))


def composite(densities: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """Compositing weights (N, R, S-1, 1) of sorted samples; densities (raw sigma)/depths (N, R, S, 1).

    Weight i belongs to the interval between samples i and i+1 (midpoint sigma, softplus(sigma - 1)).
    """
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    densities_mid = (densities[:, :, :-1] + densities[:, :, 1:]) / 2
    density_delta = F.softplus(densities_mid - 1) * deltas
    alpha = 1 - torch.exp(-density_delta)
    shifted = torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], -2)
    return alpha * torch.cumprod(shifted, -2)[:, :, :-1]


def sample_weights(weights: torch.Tensor) -> torch.Tensor:
    """Per-sample colour weights (N, R, S): ``sum_i w_i (c_i + c_{i+1}) / 2 == sum_j omega_j c_j``.

    Lets the renderer weight each sample's colour once instead of building (S-1) midpoint colours.
    """
    w = weights.squeeze(-1)
    zero = torch.zeros_like(w[..., :1])
    return (torch.cat([w, zero], -1) + torch.cat([zero, w], -1)) * 0.5


def expected_depth(weights: torch.Tensor, depths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(depth (N, R, 1) = sum w * midpoint / sum w, +inf where sum w = 0 -- unclamped; total (N, R, 1))."""
    depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
    total = weights.sum(2)
    depth = torch.nan_to_num(torch.sum(weights * depths_mid, -2) / total, float("inf"))
    return depth, total


def importance_depths(depths_coarse: torch.Tensor, weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF importance samples (N, R, S_imp, 1) from coarse depths (N,R,S,1) and weights (N,R,S-1,1).

    ``u``: (N*R, S_imp) uniform variates. As in the official sampler the pdf uses the inner S-3
    smoothed weights over the S-1 coarse midpoints, so the last midpoint interval is never sampled.
    The samples carry no gradient (official behaviour).
    """
    with torch.no_grad():
        return _importance_depths(depths_coarse.detach(), weights.detach(), u)


def _importance_depths(depths_coarse: torch.Tensor, weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    n, r, s, _ = depths_coarse.shape
    z = depths_coarse.reshape(n * r, s)
    w = weights.reshape(n * r, 1, -1).float()
    w = F.avg_pool1d(F.max_pool1d(w, 2, 1, padding=1), 2, 1).squeeze(1) + 0.01
    bins = 0.5 * (z[:, :-1] + z[:, 1:])
    w = w[:, 1:-1] + 1e-5
    n_w = w.shape[1]
    pdf = w / torch.sum(w, -1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    u = u.to(cdf.dtype).contiguous()
    inds = torch.searchsorted(cdf, u, right=True)
    below = torch.clamp_min(inds - 1, 0)
    above = torch.clamp_max(inds, n_w)
    cdf_below, cdf_above = torch.gather(cdf, 1, below), torch.gather(cdf, 1, above)
    bins_below, bins_above = torch.gather(bins, 1, below), torch.gather(bins, 1, above)
    denom = cdf_above - cdf_below
    denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
    samples = bins_below + (u - cdf_below) / denom * (bins_above - bins_below)
    return samples.reshape(n, r, -1, 1)


def render_rays(planes: torch.Tensor, decoder: OSGDecoder, origins: torch.Tensor, directions: torch.Tensor,
                cfg: RenderingConfig, draws: RenderDraws, chunk: int | None = DEFAULT_RAY_CHUNK) -> RenderResult:
    """Render rays (N, M, 3) through tri-planes (N, 3, C, H, W).

    ``chunk`` rays per batch entry are processed at once (bounds memory; on CPU moderate chunks
    also keep temporaries in cache). Results do not depend on it, draws included.
    """
    n, m, _ = origins.shape
    chunk = m if chunk is None or chunk <= 0 else min(chunk, m)
    sampler = TriplaneSampler(planes, cfg.box_warp, cfg.plane_axes)
    feats, depths, wsums, fines = [], [], [], []
    lo = hi = None
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        f, d, ws, fine, (dmin, dmax) = _render_chunk(
            sampler, decoder, origins[:, start:stop], directions[:, start:stop], cfg, draws.rays(start, stop, n))
        feats.append(f), depths.append(d), wsums.append(ws), fines.append(fine)
        lo = dmin if lo is None else torch.minimum(lo, dmin)
        hi = dmax if hi is None else torch.maximum(hi, dmax)
    # Official quirk: the depth clamp range is the min/max over every sample of the whole batch.
    depth = torch.clamp(torch.cat(depths, 1), lo, hi)
    fine = torch.cat(fines, 1) if fines[0] is not None else None
    return RenderResult(torch.cat(feats, 1), depth, torch.cat(wsums, 1), fine)


def _query(sampler: TriplaneSampler, decoder: OSGDecoder, origins, directions, depths, amp: torch.dtype | None):
    n, r, s, _ = depths.shape
    pts = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(n, -1, 3)
    # The decoder MLP may run under the caller's autocast dtype; everything else stays float32.
    with torch.autocast(origins.device.type, dtype=amp, enabled=amp is not None):
        out = decoder(sampler(pts))
    return out["rgb"].float().reshape(n * r, s, -1), out["sigma"].float().reshape(n, r, s, 1)


def _render_chunk(sampler, decoder, origins, directions, cfg: RenderingConfig, draws: RenderDraws):
    dev = origins.device.type
    amp = autocast_dtype(dev)
    # Sampling and compositing run in float32 (autocast would put the bmm in half precision).
    with torch.autocast(dev, enabled=False):
        return _render_chunk_fp32(sampler, decoder, origins, directions, cfg, draws, amp)


def _render_chunk_fp32(sampler, decoder, origins, directions, cfg: RenderingConfig, draws: RenderDraws,
                       amp: torch.dtype | None):
    n, r, _ = origins.shape
    depths_c = stratified_depths(cfg, draws.stratified.to(origins.dtype))
    colors_c, sigma_c = _query(sampler, decoder, origins, directions, depths_c, amp)
    s_imp = cfg.depth_resolution_importance
    if s_imp <= 0:
        weights = composite(sigma_c, depths_c)
        omega_c = sample_weights(weights).reshape(n * r, 1, -1)
        rgb = torch.bmm(omega_c, colors_c)
        depths_fine, all_depths = None, depths_c
    else:
        depths_fine = importance_depths(depths_c, composite(sigma_c, depths_c), draws.importance)
        colors_f, sigma_f = _query(sampler, decoder, origins, directions, depths_fine, amp)
        all_depths, order = torch.sort(torch.cat([depths_c, depths_fine], -2), dim=-2)
        weights = composite(torch.gather(torch.cat([sigma_c, sigma_f], -2), -2, order), all_depths)
        # Colour weights back in the unsorted (coarse, fine) order: no sorted copy of the colours.
        omega = torch.zeros_like(all_depths).scatter_(-2, order, sample_weights(weights).unsqueeze(-1))
        omega = omega.reshape(n * r, 1, -1)
        s = depths_c.shape[2]
        rgb = torch.baddbmm(torch.bmm(omega[..., :s], colors_c), omega[..., s:], colors_f)
    depth, total = expected_depth(weights, all_depths)
    rgb = rgb.reshape(n, r, -1)
    if cfg.white_back:
        rgb = rgb + 1 - total
    return rgb * 2 - 1, depth, total, depths_fine, (all_depths.min(), all_depths.max())
