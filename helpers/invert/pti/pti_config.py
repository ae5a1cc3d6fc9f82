"""PTI's settings: the two stages' configurations (:class:`ProjectionConfig`, :class:`TuningConfig`), the whole
recipe (:class:`PTIConfig`) and its presets (:data:`PRESETS`: EG3D-projector's ``default``, our ``fast`` and
``smoke``). The recipe line by line: docs/inversion.md."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from helpers.base.runtime import resolve_precision
from helpers.invert.lpips import LPIPS_NETS, NETS

__all__ = ["PRECISION_CHOICES", "PRESETS", "PTIConfig", "ProjectionConfig", "TuningConfig"]

#: Precisions PTI accepts (fp16 would need loss scaling and is not offered).
PRECISION_CHOICES = ("fp32", "bf16", "auto")


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

