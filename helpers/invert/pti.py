"""Pivotal Tuning Inversion (PTI) of one aligned face photo into EG3D.

Two stages, as in Roich et al. 2021 ("Pivotal Tuning for Latent-based Editing of Real Images") applied
to EG3D by the public EG3D projectors:

1. **Projection** (:func:`project`): find the latent w (one 512-vector shared by all layers, or W+: one per layer)
   whose render from the photo's camera looks like the photo: Adam on w starting at the mean latent, with the
   StyleGAN2 projector's schedule; loss LPIPS (by default VGG at 256², optionally + L2).
2. **Pivotal tuning** (:func:`tune`): the w found is frozen (the *pivot*) and the generator's weights are fine-tuned
   so that its render matches the photo: L2 + LPIPS (by default AlexNet, full size), Adam at 3e-4, stopping early
   once LPIPS ≤ 0.06. Each stage's LPIPS network, size and ray samples are settings of its config.

Images are (N, 3, H, W) tensors in [-1, 1]; cameras EG3D 25-vectors (:mod:`helpers.base.cameras`). The generator
given is never modified: projection works on a copy (its optimised noise images are discarded, as PTI does) and
tuning returns a tuned copy. Random numbers (w samples, w noise, the renderer's stratified and importance draws)
come from one seeded ``torch.Generator``: same inputs and seed → same result on the CPU.

Presets (:meth:`PTIConfig.preset`): ``"default"`` is EG3D-projector's recipe (LPIPS-VGG at 256² to project,
LPIPS-AlexNet at 512² to tune, 96 + 96 ray samples, mean w of 600 samples); ``"fast"`` and ``"smoke"`` are ours.
Design notes: docs/design/invert.md (pti); the recipe line by line: docs/inversion.md.
"""

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
from helpers.base.runtime import autocast, resolve_precision
from helpers.dataset_folder.layout import stored_latent
from helpers.invert.lpips import LPIPS, LPIPS_NETS, NETS, LPIPSNets, downsample_for_lpips, select_lpips

__all__ = [
    "PRECISION_CHOICES",
    "PRESETS",
    "PTIConfig",
    "Projection",
    "ProjectionConfig",
    "StepLog",
    "Tuning",
    "TuningConfig",
    "conditioning_camera_for",
    "image_to_tensor",
    "latent_statistics",
    "lpips_features",
    "project",
    "psnr",
    "reconstruction_metrics",
    "stage_lpips",
    "tune",
    "with_ray_samples",
]

#: Precisions PTI accepts (fp16 would need loss scaling and is not offered).
PRECISION_CHOICES = ("fp32", "bf16", "auto")

#: Called after each optimisation step with its log entry (for live loss curves and progress bars).
StepCallback = Callable[["StepLog"], None]


def _check_stage(stage: str, net: str, resolution: int | None, ray_sample_mult: int) -> None:
    """One-line ValueErrors for a stage's LPIPS network, LPIPS size and ray-sample multiplier."""
    if net not in NETS:
        raise ValueError(f"{stage}.lpips_net must be one of {', '.join(LPIPS_NETS)}, got {net!r}")
    if resolution is not None and resolution < NETS[net].min_size:
        raise ValueError(f"{stage}.lpips_resolution {resolution} is below LPIPS-{net}'s minimum of "
                         f"{NETS[net].min_size} pixels: use None (the full image) or at least {NETS[net].min_size}")
    if not isinstance(ray_sample_mult, int) or ray_sample_mult < 1:
        raise ValueError(f"{stage}.ray_sample_mult must be a whole number >= 1 (2 in the recipe), "
                         f"got {ray_sample_mult!r}")


@dataclass(frozen=True)
class ProjectionConfig:
    """W / W+ projection settings (defaults: EG3D-projector's ``run_projector.py``).

    Attributes:
        steps: optimisation steps.
        lr: peak Adam learning rate on w.
        w_plus: optimise one w per layer (W+) instead of one shared w.
        w_avg_samples: z samples mapped to estimate the mean latent (start point) and its spread (600 in the recipe).
        lr_rampup, lr_rampdown: fractions of the run spent warming up / ramping the rate down (cosine).
        noise_factor: std of the noise added to w at step 0, as a fraction of the latents' spread.
        noise_ramp: fraction of the run over which that noise decays (quadratically) to zero.
        optimize_noise: also optimise the backbone's per-layer noise images (regularised).
        noise_regularize: weight of the noise images' autocorrelation penalty.
        lpips_net: the LPIPS network, ``"vgg"`` (the recipe) or ``"alex"``.
        lpips_resolution: images are area-downsampled to this size before LPIPS (256 in the recipe); None: full size.
        l2_weight: weight of an extra pixel L2 loss (0 in the recipe).
        ray_sample_mult: renders use this many times the checkpoint's stratified and importance ray samples
            (EG3D-projector's ``sample_mult``: 2, i.e. 96 + 96 for the FFHQ checkpoints' 48 + 48).
        refine_camera: also optimise the camera's orbit angles (yaw, pitch, roll), starting from the
            landmark fit, so that a few degrees of error in the fit are corrected by the image loss.
        camera_lr: peak Adam learning rate of those orbit parameters, on the same schedule as w (yaw and roll
            in radians; pitch is EG3D's orbit pitch offset, not an angle: see :mod:`helpers.base.cameras`).
    """

    steps: int = 500
    lr: float = 0.01
    w_plus: bool = False
    w_avg_samples: int = 600
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    noise_factor: float = 0.05
    noise_ramp: float = 0.75
    optimize_noise: bool = True
    noise_regularize: float = 1e5
    lpips_net: str = "vgg"
    lpips_resolution: int | None = 256
    l2_weight: float = 0.0
    ray_sample_mult: int = 2
    refine_camera: bool = False
    camera_lr: float = 0.002

    def __post_init__(self) -> None:
        if self.steps < 0 or self.w_avg_samples < 2 or self.lr <= 0 or self.camera_lr <= 0:
            raise ValueError(f"invalid projection settings: {self}")
        _check_stage("projection", self.lpips_net, self.lpips_resolution, self.ray_sample_mult)


@dataclass(frozen=True)
class TuningConfig:
    """Pivotal-tuning settings (defaults: EG3D-projector's ``projector/PTI`` hyperparameters).

    Attributes:
        steps: maximum optimisation steps on the generator's weights.
        lr: Adam learning rate.
        l2_weight, lpips_weight: weights of the pixel L2 (mean over [-1, 1] pixels) and LPIPS losses.
        lpips_threshold: stop as soon as the LPIPS of the current render is at or below this (a value of this
            stage's network at this stage's resolution).
        lpips_net: the LPIPS network, ``"alex"`` (the recipe's ``lpips_type``) or ``"vgg"``.
        lpips_resolution: size the images are area-downsampled to before LPIPS; None (the recipe): the full image.
        ray_sample_mult: as :attr:`ProjectionConfig.ray_sample_mult` (2 in the recipe); the tuned generator renders
            with it in :func:`helpers.invert.inversion.invert_aligned`'s final renders too.
    """

    steps: int = 350
    lr: float = 3e-4
    l2_weight: float = 1.0
    lpips_weight: float = 1.0
    lpips_threshold: float = 0.06
    lpips_net: str = "alex"
    lpips_resolution: int | None = None
    ray_sample_mult: int = 2

    def __post_init__(self) -> None:
        if self.steps < 0 or self.lr <= 0:
            raise ValueError(f"invalid tuning settings: {self}")
        _check_stage("tuning", self.lpips_net, self.lpips_resolution, self.ray_sample_mult)


@dataclass(frozen=True)
class PTIConfig:
    """Both stages, the conditioning camera and the seed.

    Attributes:
        conditioning: camera the mapping network sees when sampling latents: ``"frontal"`` (EG3D's
            usual choice, as the dataset generator) or ``"target"`` (the photo's camera).
        seed: seeds every random number of the inversion.
        precision: ``"fp32"`` (the recipe), ``"bf16"`` (autocast of the renders and LPIPS; latents,
            weights, optimiser and losses stay float32) or ``"auto"`` (bf16 on GPUs that support it,
            else fp32).
    """

    projection: ProjectionConfig = field(default_factory=ProjectionConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    conditioning: str = "frontal"
    seed: int = 0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.conditioning not in ("frontal", "target"):
            raise ValueError(f"conditioning must be 'frontal' or 'target', got {self.conditioning!r}")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {self.precision!r}")

    def resolved_precision(self, device: torch.device) -> str:
        """The precision actually used on ``device``: ``"auto"`` as :func:`helpers.base.runtime.resolve_precision`
        (bf16 on GPUs that support it), except that fp16 is never used (it would need loss scaling): fp32."""
        resolved = resolve_precision(self.precision, device)
        return "fp32" if resolved == "fp16" else resolved

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> PTIConfig:
        """One of :data:`PRESETS` (``default``, ``fast``, ``smoke``), with top-level field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown PTI preset {name!r}; choose one of {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)

    @property
    def lpips_nets(self) -> tuple[str, ...]:
        """The LPIPS networks the two stages use (load them with :func:`helpers.invert.lpips_weights.load_lpips_nets`)."""
        return tuple(dict.fromkeys((self.projection.lpips_net, self.tuning.lpips_net)))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PTIConfig:
        """Inverse of :meth:`as_dict`; settings recorded before a stage had ``lpips_net`` and ``ray_sample_mult``
        read as what they ran with (VGG, the checkpoint's ray samples)."""
        earlier = {"lpips_net": "vgg", "ray_sample_mult": 1}
        return cls(projection=ProjectionConfig(**{**earlier, **data["projection"]}),
                   tuning=TuningConfig(**{**earlier, **data["tuning"]}),
                   conditioning=data["conditioning"], seed=data["seed"], precision=data.get("precision", "fp32"))


PRESETS: dict[str, PTIConfig] = {
    # EG3D-projector's recipe (docs/inversion.md compares it line by line).
    "default": PTIConfig(),
    # Ours: fewer steps at higher rates, fixed noise images, the checkpoint's ray samples; the same LPIPS networks.
    "fast": PTIConfig(ProjectionConfig(steps=200, lr=0.02, optimize_noise=False, ray_sample_mult=1),
                      TuningConfig(steps=150, lr=5e-4, ray_sample_mult=1)),
    # Ours, for tests and smoke mode: random LPIPS weights (one small VGG for both stages, 32²), whose distance
    # means little, so lean on L2; the checkpoint's ray samples.
    "smoke": PTIConfig(ProjectionConfig(steps=8, lr=0.05, w_avg_samples=64, lpips_resolution=32, l2_weight=10.0,
                                        ray_sample_mult=1),
                       TuningConfig(steps=32, lr=1e-3, lpips_net="vgg", lpips_resolution=32, lpips_threshold=0.0,
                                    ray_sample_mult=1)),
}


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
