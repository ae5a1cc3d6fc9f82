"""PTI's two stages, :func:`project` and :func:`tune`, with their step logs and results, and the image metrics and
latent statistics they use (the package docstring of :mod:`helpers.invert.pti` describes the method)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from helpers.base import cameras
from helpers.base.cameras import camera_from_angles
from helpers.base.runtime import autocast
from helpers.dataset_folder.layout import stored_latent
from helpers.invert.lpips import LPIPS, LPIPSNets, downsample_for_lpips, select_lpips
from helpers.invert.pti.pti_config import ProjectionConfig, PTIConfig

__all__ = ["Projection", "StepCallback", "StepLog", "Tuning", "conditioning_camera_for", "image_to_tensor",
           "latent_statistics", "lpips_features", "project", "psnr", "reconstruction_metrics", "stage_lpips", "tune",
           "with_ray_samples"]


#: Called after each optimisation step with its log entry (for live loss curves and progress bars).
StepCallback = Callable[["StepLog"], None]


@dataclass
class StepLog:
    """One optimisation step: stage, step index, losses (floats), learning rate and elapsed seconds."""

    stage: str
    step: int
    loss: float
    lpips: float
    l2: float
    lr: float
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        row = {k: v for k, v in asdict(self).items() if k != "extra"}
        row.update(self.extra)
        return row


@dataclass
class Projection:
    """Result of :func:`project`: ws (1, num_ws, w_dim) — the pivot —, the loss curve, and the camera
    (25,) float32 the pivot was fitted with (refined when ``refine_camera``, else the one given)."""

    ws: torch.Tensor
    history: list[StepLog]
    seconds: float
    camera: np.ndarray

    @property
    def w(self) -> np.ndarray:
        """(w_dim,) when all layers share w, else (num_ws, w_dim); float32: what the dataset's
        ``latents/<id>.npy`` holds (:func:`helpers.generation.sample_writer.stored_latent`)."""
        return stored_latent(self.ws[0].detach().float().cpu().numpy())


@dataclass
class Tuning:
    """Result of :func:`tune`: the tuned generator (a copy of ``base``, which is unchanged), the loss
    curve, and whether LPIPS reached the threshold before the last step."""

    generator: nn.Module
    base: nn.Module
    history: list[StepLog]
    seconds: float
    stopped_early: bool


# ----------------------------------------------------------------------------------------------- images


def image_to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 → (1, 3, H, W) float32 in [-1, 1] (EG3D's ``x / 127.5 - 1``)."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {array.shape} {array.dtype}")
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(device)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images (peak 255); inf when identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def lpips_features(lpips: LPIPS, image: np.ndarray, lpips_resolution: int | None = 256) -> list[torch.Tensor]:
    """LPIPS features of an (H, W, 3) uint8 image area-downsampled to ``lpips_resolution`` (None: full size), on
    the model's device: pass them to :func:`reconstruction_metrics` to score several reconstructions of one target."""
    return _target_features(lpips, image_to_tensor(image, next(lpips.parameters()).device), lpips_resolution)


def reconstruction_metrics(reconstruction: np.ndarray, target: np.ndarray, lpips: LPIPS | None = None,
                           lpips_resolution: int | None = 256, *,
                           target_features: list[torch.Tensor] | None = None) -> dict[str, float]:
    """PSNR (dB), SSIM (scikit-image, colour, data range 255) and LPIPS (at ``lpips_resolution``, if a
    model is given) between two (H, W, 3) uint8 images. ``target_features``: the target's
    :func:`lpips_features` at ``lpips_resolution``, when already computed."""
    from skimage.metrics import structural_similarity

    metrics = {"psnr": psnr(reconstruction, target),
               "ssim": float(structural_similarity(reconstruction, target, channel_axis=-1, data_range=255))}
    if lpips is not None:
        if target_features is None:
            target_features = lpips_features(lpips, target, lpips_resolution)
        with torch.no_grad():
            a = downsample_for_lpips(image_to_tensor(reconstruction, next(lpips.parameters()).device),
                                     lpips_resolution)
            metrics["lpips"] = float(lpips.distance_to_features(a, target_features).item())
    return metrics


# ----------------------------------------------------------------------------------------------- latents


def conditioning_camera_for(camera: torch.Tensor, conditioning: str) -> torch.Tensor:
    """(1, 25) camera the mapping network is conditioned on: the frontal one or the photo's own."""
    if conditioning == "frontal":
        return cameras.conditioning_camera(1, device=camera.device)
    return camera.reshape(1, -1)


@torch.no_grad()
def latent_statistics(G: nn.Module, c: torch.Tensor, samples: int, generator: torch.Generator,
                      batch: int = 1000) -> tuple[torch.Tensor, float]:
    """Mean w (1, w_dim) and spread ``sqrt(E|w - mean|²)`` of ``samples`` mapped random z under camera ``c``."""
    ws = []
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        z = torch.randn(n, G.z_dim, generator=generator).to(G.device)
        ws.append(G.mapping(z, c.expand(n, -1))[:, 0].float())
    w = torch.cat(ws)
    mean = w.mean(0, keepdim=True)
    return mean, float(((w - mean) ** 2).sum(1).mean().sqrt())


def _noise_buffers(G: nn.Module) -> list[torch.Tensor]:
    """The backbone's constant noise images (what ``noise_mode='const'`` adds), largest last."""
    return [b for name, b in G.backbone.synthesis.named_buffers() if name.endswith("noise_const")]


def _noise_penalty(buffers: list[torch.Tensor]) -> torch.Tensor:
    """StyleGAN2 projector's regulariser: squared autocorrelation at a one-pixel shift, at every scale
    down to 8² (noise images should stay white, not absorb the image)."""
    total = buffers[0].new_zeros(())
    for buf in buffers:
        noise = buf[None, None]
        while True:
            total = total + (noise * torch.roll(noise, 1, dims=3)).mean() ** 2
            total = total + (noise * torch.roll(noise, 1, dims=2)).mean() ** 2
            if noise.shape[-1] <= 8:
                break
            noise = F.avg_pool2d(noise, 2)
    return total


def _lr_factor(t: float, cfg: ProjectionConfig) -> float:
    """Learning-rate multiplier at run fraction t: cosine ramp-down over the last ``lr_rampdown``,
    linear warm-up over the first ``lr_rampup``."""
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown) if cfg.lr_rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return ramp * (min(1.0, t / cfg.lr_rampup) if cfg.lr_rampup > 0 else 1.0)


def stage_lpips(lpips: LPIPS | LPIPSNets, config: PTIConfig) -> tuple[LPIPS, LPIPS]:
    """The LPIPS modules of the projection and of the tuning stage, picked from ``lpips`` by the stages'
    ``lpips_net`` (one-line ValueError naming what to load when one is missing): check both before a long run."""
    return (select_lpips(lpips, config.projection.lpips_net, "PTI's projection stage"),
            select_lpips(lpips, config.tuning.lpips_net, "PTI's tuning stage"))


def with_ray_samples(G: nn.Module, mult: int) -> nn.Module:
    """``G`` rendering with ``mult`` times its configuration's stratified and importance ray samples per ray
    (EG3D-projector's ``sample_mult``): a shallow copy whose ``config`` differs, sharing every parameter and buffer
    with ``G`` (training one trains the other); ``G`` itself is unchanged. ``mult == 1`` returns ``G``."""
    if mult == 1:
        return G
    rendering = G.config.rendering
    view = copy.copy(G)  # nn.Module's shallow copy: the same parameter, buffer and submodule dictionaries
    view.config = G.config.replace(rendering=replace(
        rendering, depth_resolution=rendering.depth_resolution * mult,
        depth_resolution_importance=rendering.depth_resolution_importance * mult))
    return view


def _target_features(lpips: LPIPS, target: torch.Tensor, size: int | None) -> list[torch.Tensor]:
    """LPIPS features of the photo at ``size``, computed once per stage (the photo does not change)."""
    if target.ndim != 4 or target.shape[1] != 3:
        raise ValueError(f"target must be (V, 3, H, W) images in [-1, 1], got {tuple(target.shape)}")
    with torch.no_grad():
        return lpips.features(downsample_for_lpips(target, size))


def _render(G: nn.Module, ws: torch.Tensor, camera: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Render one face's ws (1 or V, num_ws, w_dim) from V cameras (V, 25): (V, 3, S, S)."""
    views = camera.shape[0]
    draws = G.draws(views, generator=generator)
    return G.synthesize(ws.expand(views, -1, -1), camera, draws=draws)["image"]


def _views(target: torch.Tensor, camera: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, 3, S, S) targets and their (V, 25) cameras (one view: a (25,) or (1, 25) camera)."""
    camera = torch.as_tensor(camera, dtype=torch.float32, device=device).reshape(-1, 25)
    if target.ndim != 4 or target.shape[0] != camera.shape[0]:
        raise ValueError(f"{tuple(target.shape)[0] if target.ndim == 4 else '?'} target images but {camera.shape[0]} "
                         "cameras: give one camera per view")
    return target.to(device), camera


# ----------------------------------------------------------------------------------------------- stages


def _steps(total: int, stage: str, progress: bool) -> Iterable[int]:
    """The step indices of a stage; with ``progress``, through a progress bar (steps/s, time left)."""
    return tqdm(range(total), desc=stage, unit="step", disable=not progress)


def project(G: nn.Module, target: torch.Tensor, camera: torch.Tensor, lpips: LPIPS | LPIPSNets,
            config: PTIConfig = PTIConfig(), *, on_step: StepCallback | None = None,
            w_init: torch.Tensor | None = None, camera_angles: tuple[float, float, float] | None = None,
            progress: bool = False) -> Projection:
    """Find the pivot latent of ``target`` (1, 3, S, S) in [-1, 1] seen from ``camera`` (25,) or (1, 25) — or of one
    face in V views, ``target`` (V, 3, S, S) from ``camera`` (V, 25): one w for all, the views' LPIPS summed.

    ``lpips``: an :class:`~helpers.invert.lpips.LPIPS` of the stage's ``lpips_net`` or an
    :class:`~helpers.invert.lpips.LPIPSNets` holding it. ``w_init`` (w_dim,), (1, w_dim) or (1, num_ws, w_dim)
    starts from a given latent (e.g. a latent-regression prediction) instead of the mean latent. ``camera_angles``
    (yaw, pitch, roll: the orbit parameters of :func:`helpers.base.cameras.camera_from_angles`; yaw and roll in
    radians, pitch EG3D's orbit pitch offset, not an angle) are needed with ``refine_camera``: the camera is then
    rebuilt from them at each step, with the given camera's focal length and distance from the origin. Returns the
    pivot ws (1, num_ws, w_dim), detached. ``progress``: a progress bar with the time left.
    """
    cfg = config.projection
    lpips = select_lpips(lpips, cfg.lpips_net, "PTI's projection stage")
    device = G.device
    precision = config.resolved_precision(device)
    gen = torch.Generator().manual_seed(config.seed)
    target, camera = _views(target, camera, device)
    if cfg.refine_camera and len(camera) > 1:
        raise ValueError("refine_camera refines one photo's camera: project several views without it")
    target_features = _target_features(lpips, target, cfg.lpips_resolution)
    w_avg, w_std = latent_statistics(G, conditioning_camera_for(camera[:1], config.conditioning), cfg.w_avg_samples,
                                     gen)

    G = copy.deepcopy(G).eval().requires_grad_(False)  # its noise images are optimised in place
    G = with_ray_samples(G, cfg.ray_sample_mult)
    start = w_avg if w_init is None else torch.as_tensor(w_init, dtype=torch.float32, device=device)
    start = start.reshape(1, -1, G.w_dim)
    if cfg.w_plus:
        start = start.expand(1, G.num_ws, -1) if start.shape[1] == 1 else start
    elif start.shape[1] != 1:
        start = start.mean(1, keepdim=True)
    w_opt = start.detach().clone().requires_grad_(True)
    params: list[torch.Tensor] = [w_opt]
    buffers = _noise_buffers(G) if cfg.optimize_noise else []
    for buf in buffers:
        buf.copy_(torch.randn(buf.shape, generator=gen))
        buf.requires_grad_(True)
        params.append(buf)
    groups: list[dict[str, Any]] = [{"params": params, "peak": cfg.lr}]
    angles = None
    if cfg.refine_camera:
        if camera_angles is None:
            raise ValueError("refine_camera needs the camera's orbit angles (camera_angles=(yaw, pitch, roll))")
        angles = torch.tensor(camera_angles, dtype=torch.float32, device=device, requires_grad=True)
        groups.append({"params": [angles], "peak": cfg.camera_lr})
    optimizer = torch.optim.Adam([{"params": g["params"]} for g in groups], lr=cfg.lr, betas=(0.9, 0.999))
    given = camera  # focal length and radius of the refined cameras
    history: list[StepLog] = []
    began = time.perf_counter()
    for step in _steps(cfg.steps, "PTI projection", progress):
        t = step / cfg.steps
        factor = _lr_factor(t, cfg)
        lr = cfg.lr * factor
        for group, spec in zip(optimizer.param_groups, groups):
            group["lr"] = spec["peak"] * factor
        if angles is not None:
            camera = _camera_from(angles, given)
        noise_scale = w_std * cfg.noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp) ** 2
        w_noisy = w_opt + torch.randn(w_opt.shape, generator=gen).to(device) * noise_scale
        ws = w_noisy.expand(1, G.num_ws, -1) if w_noisy.shape[1] == 1 else w_noisy
        with autocast(device, precision):
            image = _render(G, ws, camera, gen)
            dist = lpips.distance_to_features(downsample_for_lpips(image, cfg.lpips_resolution), target_features)
        dist, image = dist.float().sum(), image.float()
        l2 = F.mse_loss(image, target)
        penalty = _noise_penalty(buffers) if buffers else image.new_zeros(())
        loss = dist + cfg.noise_regularize * penalty + cfg.l2_weight * l2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # keep the noise images zero-mean, unit-variance
            for buf in buffers:
                buf.sub_(buf.mean()).mul_(buf.square().mean().rsqrt())
        # One device → host copy per step (each .item() would wait for the GPU).
        loss_v, dist_v, l2_v, penalty_v = torch.stack([loss, dist, l2, penalty]).detach().tolist()
        entry = StepLog("projection", step, loss_v, dist_v, l2_v, lr, time.perf_counter() - began,
                        {"noise_penalty": penalty_v})
        history.append(entry)
        if on_step is not None:
            on_step(entry)
    ws = w_opt.detach()
    ws = ws.expand(1, G.num_ws, -1) if ws.shape[1] == 1 else ws
    if angles is not None:
        camera = _camera_from(angles.detach(), given)
    views = camera.detach().float().cpu().numpy()
    return Projection(ws=ws.clone(), history=history, seconds=time.perf_counter() - began,
                      camera=views.reshape(-1) if len(views) == 1 else views)


def _camera_from(angles: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(1, 25) camera for orbit parameters (yaw, pitch, roll), keeping the focal length of ``like`` and its
    distance from the world origin; it looks at EG3D's pivot (:func:`helpers.base.cameras.camera_from_angles`)."""

    values = like.detach().reshape(-1)
    radius = float(torch.linalg.vector_norm(values[[3, 7, 11]].double()))  # cam2world translation, row-major
    return camera_from_angles(angles[0], angles[1], angles[2], radius=radius, focal=float(values[16])).reshape(1, -1)


def tune(G: nn.Module, target: torch.Tensor, camera: torch.Tensor, pivot: torch.Tensor, lpips: LPIPS | LPIPSNets,
         config: PTIConfig = PTIConfig(), *, on_step: StepCallback | None = None, progress: bool = False) -> Tuning:
    """Fine-tune a copy of ``G`` so that the render of the fixed ``pivot`` ws from ``camera`` matches ``target``
    (several views: ``target`` (V, 3, S, S) from ``camera`` (V, 25), all tuned together).

    Every weight of the generator (backbone, decoder, super-resolution) is trained; buffers (noise
    images, ``w_avg``) are not. Stops early once LPIPS (the views' mean) ≤ ``lpips_threshold`` (checked before each
    step). Renders
    use ``ray_sample_mult`` times ``G``'s ray samples; the returned generator keeps ``G``'s configuration (render it
    as it was tuned with :func:`with_ray_samples`). ``lpips`` and ``progress`` as in :func:`project`, for the tuning's
    ``lpips_net``.
    """
    cfg = config.tuning
    lpips = select_lpips(lpips, cfg.lpips_net, "PTI's tuning stage")
    device = G.device
    precision = config.resolved_precision(device)
    gen = torch.Generator().manual_seed(config.seed + 1)
    target, camera = _views(target, camera, device)
    target_features = _target_features(lpips, target, cfg.lpips_resolution)
    pivot = pivot.detach().to(device)
    tuned = copy.deepcopy(G).eval().requires_grad_(True)
    renderer = with_ray_samples(tuned, cfg.ray_sample_mult)  # shares tuned's weights
    optimizer = torch.optim.Adam(tuned.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    history: list[StepLog] = []
    began = time.perf_counter()
    stopped = False
    for step in _steps(cfg.steps, "PTI tuning", progress):
        with autocast(device, precision):
            image = _render(renderer, pivot, camera, gen)
            dist = lpips.distance_to_features(downsample_for_lpips(image, cfg.lpips_resolution), target_features)
        dist, image = dist.float().sum(), image.float()
        dist_v = dist.item()  # the early stop needs it now
        if dist_v / len(camera) <= cfg.lpips_threshold:
            stopped = True
            break
        l2 = F.mse_loss(image, target)
        loss = cfg.l2_weight * l2 + cfg.lpips_weight * dist
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_v, l2_v = torch.stack([loss, l2]).detach().tolist()  # one device → host copy
        entry = StepLog("tuning", step, loss_v, dist_v, l2_v, cfg.lr, time.perf_counter() - began)
        history.append(entry)
        if on_step is not None:
            on_step(entry)
    tuned.requires_grad_(False)
    return Tuning(generator=tuned, base=G, history=history, seconds=time.perf_counter() - began, stopped_early=stopped)
