"""Image → EG3D latent encoders.

:class:`LatentEncoder` predicts w (``(N, w_dim)``) — or, with ``wplus``, per-layer ws (``(N, num_ws, w_dim)``) — as
``w_avg + head(features(image))``: the head's last layer starts at zero, so an untrained encoder predicts exactly
``w_avg``, the generator's mean latent (the baseline it has to beat), and learns an offset from it.

Backbones (:attr:`LatentEncoderConfig.backbone`):

- ``"resnet"``: a small ResNet of our own (a stride-2 stem, four stages of two basic blocks, widths
  ``width·(1, 2, 4, 8)``, global average pooling), trained from scratch. Input RGB normalised to [-1, 1].
- ``"dinov2-small"``: DINOv2 ViT-S/14 through ``transformers`` (``facebook/dinov2-small``, pretrained weights
  from the Hugging Face Hub; its CLS token feeds the head), ImageNet normalisation. ``"tiny-random-dinov2"``: the same
  architecture with 2 layers of width 32 and random weights, built offline (tests, smoke runs).

Checkpoints (:func:`save_latent_encoder` / :func:`load_latent_encoder`) hold the config, ``w_avg`` and the weights (and
a transformer's architecture, so loading needs no network); read by :func:`helpers.base.weights_file.read_weights`.
:func:`load_latent_encoder` also takes the original project's published regressors by name
(:data:`helpers.latent.published_regressors.PUBLISHED_REGRESSORS`) or an original ``.pt`` of one.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from helpers.base.atomic import save_torch_atomic
from helpers.base.weights_file import read_weights
from helpers.depth.networks.dpt import _import_transformers
from helpers.depth.networks.predict import prepare_images, resize_bilinear
from helpers.eg3d import tiny_random
from helpers.latent.published_regressors import (
    PUBLISHED_REGRESSORS,
    PublishedCodeRegressor,
    load_published_regressor,
    regressor_from_state_dict,
)

__all__ = ["TINY_RANDOM_ENCODER", "LatentEncoder", "LatentEncoderConfig", "load_latent_encoder", "save_latent_encoder"]

#: Name of a small encoder with fixed random weights around the tiny random generator's ``w_avg`` (tests, smoke mode).
TINY_RANDOM_ENCODER = "tiny-random-encoder"

Backbone = Literal["resnet", "dinov2-small", "tiny-random-dinov2"]
_BACKBONES = ("resnet", "dinov2-small", "tiny-random-dinov2")
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CHECKPOINT_FORMAT = "helpers-latent-encoder"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class LatentEncoderConfig:
    """Which encoder to build.

    Attributes:
        backbone: ``"resnet"``, ``"dinov2-small"`` or ``"tiny-random-dinov2"`` (module docstring).
        input_size: square input side in pixels (DINOv2: a multiple of 14).
        width: ResNet width of the first stage.
        w_dim: latent width (EG3D: 512).
        num_ws: number of per-layer latents (EG3D 512-128: 14).
        wplus: predict per-layer ws (W+ offsets) instead of one w.
        pretrained: transformers: start from the Hub weights (None: yes for ``dinov2-small``).
    """

    backbone: Backbone = "resnet"
    input_size: int = 128
    width: int = 32
    w_dim: int = 512
    num_ws: int = 14
    wplus: bool = False
    pretrained: bool | None = None

    def __post_init__(self) -> None:
        if self.backbone not in _BACKBONES:
            raise ValueError(f"backbone must be one of {_BACKBONES}, got {self.backbone!r}")
        if self.input_size < 16 or min(self.width, self.w_dim, self.num_ws) < 1:
            raise ValueError("input_size must be >= 16 and width, w_dim, num_ws >= 1")
        if self.backbone != "resnet" and self.input_size % 14:
            raise ValueError(f"DINOv2 needs an input_size multiple of 14, got {self.input_size} (e.g. 126, 224)")
        if self.pretrained is None:
            object.__setattr__(self, "pretrained", self.backbone == "dinov2-small")
        if self.pretrained and self.backbone != "dinov2-small":
            raise ValueError(f"{self.backbone!r} has no published weights: use pretrained=False")

    @property
    def mean_std(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Per-channel normalisation of RGB in [0, 1]."""
        return ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) if self.backbone == "resnet" else _IMAGENET


class _Block(nn.Module):
    """Basic residual block (two 3×3 convs, batch norm), optional stride-2 projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class _ResNet(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        widths = [width * k for k in (1, 2, 4, 8)]
        self.stem = nn.Sequential(nn.Conv2d(3, width, 5, 2, 2, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        blocks, cin = [], width
        for i, cout in enumerate(widths):
            blocks += [_Block(cin, cout, 1 if i == 0 else 2), _Block(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.out_features = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


def _dinov2(config: LatentEncoderConfig, architecture: dict[str, Any] | None) -> nn.Module:
    tf = _import_transformers()
    if architecture is not None:
        fields = {k: v for k, v in architecture.items() if k != "model_type"}
        return tf.Dinov2Model(tf.Dinov2Config(**fields)).float()
    if config.backbone == "tiny-random-dinov2":
        tiny = tf.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                               image_size=config.input_size, patch_size=14)
        return tf.Dinov2Model(tiny).float()
    try:
        if config.pretrained:
            return tf.Dinov2Model.from_pretrained("facebook/dinov2-small").float()
        return tf.Dinov2Model(tf.AutoConfig.from_pretrained("facebook/dinov2-small")).float()
    except OSError as exc:
        raise OSError(f"could not load facebook/dinov2-small from the Hugging Face Hub ({exc}); offline, use "
                      "backbone 'resnet' or 'tiny-random-dinov2'") from exc


class LatentEncoder(nn.Module):
    """Image → w (or ws); see the module docstring.

    Args:
        config: the architecture.
        w_avg: (w_dim,) the generator's mean latent (``helpers.eg3d`` generator ``backbone.mapping.w_avg``).
        architecture: a stored transformer ``config.json`` dict (loading a checkpoint offline).
    """

    def __init__(self, config: LatentEncoderConfig, w_avg: torch.Tensor,
                 architecture: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.config = config
        if tuple(w_avg.shape) != (config.w_dim,):
            raise ValueError(f"w_avg must have shape ({config.w_dim},), got {tuple(w_avg.shape)}")
        self.register_buffer("w_avg", w_avg.detach().float().clone())
        mean, std = config.mean_std
        self.register_buffer("image_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        if config.backbone == "resnet":
            self.backbone: nn.Module = _ResNet(config.width)
            features = self.backbone.out_features  # type: ignore[assignment]
        else:
            self.backbone = _dinov2(config, architecture)
            features = int(self.backbone.config.hidden_size)
        outputs = config.w_dim * (config.num_ws if config.wplus else 1)
        self.head = nn.Sequential(nn.Linear(features, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, outputs))
        nn.init.zeros_(self.head[-1].weight)  # start at w_avg: the baseline
        nn.init.zeros_(self.head[-1].bias)

    @property
    def device(self) -> torch.device:
        return self.w_avg.device

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] → the backbone's input."""
        return (images - self.image_mean.to(images.dtype)) / self.image_std.to(images.dtype)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.backbone == "resnet":
            return self.backbone(x)
        return self.backbone(pixel_values=x).pooler_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(N, 3, S, S)`` → w ``(N, w_dim)`` (or ws ``(N, num_ws, w_dim)`` with ``wplus``), float32."""
        offset = self.head(self.features(x)).float()
        if self.config.wplus:
            return self.w_avg + offset.view(-1, self.config.num_ws, self.config.w_dim)
        return self.w_avg + offset

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """w for images ``(N, 3, H, W)`` in [0, 1] (or uint8), resized to ``input_size``; eval mode, no grad."""

        x = prepare_images(images, 3, self.w_avg)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                size = self.config.input_size
                return self(self.normalize(resize_bilinear(x, (size, size))))
        finally:
            self.train(was_training)

    def ws(self, w: torch.Tensor) -> torch.Tensor:
        """w ``(N, w_dim)`` → ws ``(N, num_ws, w_dim)`` for the generator (ws pass through)."""
        return w if w.ndim == 3 else w[:, None, :].expand(-1, self.config.num_ws, -1)

    def parameter_groups(self, backbone_lr: float, head_lr: float) -> list[dict[str, Any]]:
        """A pretrained backbone at its own rate (:class:`helpers.training.training_config.OptimConfig`); one rate otherwise."""
        if not self.config.pretrained:
            return [{"name": "all", "params": [p for p in self.parameters() if p.requires_grad], "lr": head_lr}]
        return [{"name": "backbone", "params": list(self.backbone.parameters()), "lr": backbone_lr},
                {"name": "head", "params": list(self.head.parameters()), "lr": head_lr}]


def encoder_checkpoint(model: LatentEncoder) -> dict[str, Any]:
    """The checkpoint dict of :func:`save_latent_encoder`."""
    hf = getattr(model.backbone, "config", None)
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": dataclasses.asdict(model.config),
            "architecture": hf.to_dict() if hf is not None and hasattr(hf, "to_dict") else None,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def save_latent_encoder(model: LatentEncoder, path: str | os.PathLike[str]) -> Path:
    """Write the encoder (atomically)."""
    return save_torch_atomic(path, encoder_checkpoint(model))


def load_latent_encoder(source: str | os.PathLike[str], *, device: torch.device | str = "cpu",
                        cache_dir: str | os.PathLike[str] | None = None) -> LatentEncoder | PublishedCodeRegressor:
    """An encoder in eval mode: :func:`save_latent_encoder`'s file, a ``train-latent`` run's ``best.pt`` /
    ``last.pt``, a published regressor's name (``"published-code-regressor-vit"``, ``"published-code-regressor-unet"``:
    downloaded once into ``cache_dir``), an original regressor's ``.pt`` state dict, or :data:`TINY_RANDOM_ENCODER`."""
    if source == TINY_RANDOM_ENCODER and not Path(source).exists():
        with torch.random.fork_rng(devices=[]):  # fixed weights; the caller's random state untouched
            torch.manual_seed(0)
            model = LatentEncoder(LatentEncoderConfig(input_size=32, width=4), tiny_random().backbone.mapping.w_avg)
        return model.to(device).eval()
    if isinstance(source, str) and source in PUBLISHED_REGRESSORS:
        return load_published_regressor(source, device=device, cache_dir=cache_dir)
    if not Path(source).expanduser().is_file():
        raise FileNotFoundError(f"{source}: no such file; give a train-latent checkpoint or one of "
                                f"{', '.join(PUBLISHED_REGRESSORS)}")
    data = read_weights(source, what="latent encoder", expected="a train-latent checkpoint (best.pt / last.pt, or "
                        "save_latent_encoder's file) or an original latent-code regressor's .pt state dict")
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]  # a training state
    if isinstance(data, dict) and "format" not in data and all(isinstance(v, torch.Tensor) for v in data.values()):
        state = {str(k): v.float() if v.is_floating_point() else v for k, v in data.items()}
        return regressor_from_state_dict(state, source=str(source)).to(device)  # an original regressor's file
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{source} is not a latent encoder checkpoint (train one with python -m helpers train-latent)")
    config = LatentEncoderConfig(**{**data["config"], "pretrained": False})
    state = data["state_dict"]
    model = LatentEncoder(config, state["w_avg"], architecture=data.get("architecture"))
    model.load_state_dict(state)
    model.config = LatentEncoderConfig(**data["config"])
    return model.to(device).eval()
