"""One way to name, build, save and load every depth model of the toolkit.

A :class:`DepthModelConfig` says which network (``"attention_unet"`` or a transformer backbone of
:data:`helpers.depth.networks.dpt_config.BACKBONES`), at which input size, and **what it regresses** (:attr:`DepthModelConfig.target`):

- ``"original"``: the original project's per-image normalised depth in [-1, 1], 1 = nearest, −1 = farthest
  foreground point and background (what the published Attention U-Net outputs);
- ``"metric_z"``: camera-space z-depth in EG3D world units (only trainable on this toolkit's folders, which
  store metric depth);
- ``"relative_inverse"``: the published MiDaS / Depth Anything head: relative inverse depth, >= 0, larger = nearer,
  unknown scale and shift per image.

:func:`build_depth_model` makes the ``nn.Module`` (both kinds share ``forward(normalised) -> (N, 1, H, W)`` and
``predict(images in [0, 1]) -> depth``). :func:`save_depth_model` writes a self-describing checkpoint (config,
weights and, for transformers, the architecture's ``config.json`` contents, so loading needs no network);
:func:`load_depth_model` reads it back, and also accepts the original project's published models by name
(:data:`PUBLISHED_MODELS`: ``"published-unet"``, ``"published-midas-dpt"``; downloaded once, cached, converted), a
file of the original project (a bare U-Net or MiDaS DPT state dict) or a Hub backbone name (``"dpt-large"``: the
published relative-depth model). Files are read by :func:`helpers.base.weights_file.read_weights`: no code runs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from helpers.base.atomic import save_torch_atomic
from helpers.base.weights_file import read_weights
from helpers.depth.networks.attention_unet import AttentionUNet, AttentionUNetConfig
from helpers.depth.networks.dpt import TransformerDepthModel
from helpers.depth.networks.dpt_config import BACKBONES, TransformerDepthConfig
from helpers.depth.networks.midas_dpt import PUBLISHED_MIDAS_DPT, load_midas_dpt
from helpers.depth.networks.original_weights import IncompatibleCheckpointError, PublishedWeights, download_weights
from helpers.depth.networks.unet_weights import PUBLISHED_WEIGHTS

ModelTarget = Literal["original", "metric_z", "relative_inverse"]
_TARGETS = ("original", "metric_z", "relative_inverse")

#: ``format`` field of a model checkpoint written by :func:`save_depth_model`.
CHECKPOINT_FORMAT = "helpers-depth-model"
CHECKPOINT_VERSION = 1

#: Name of the published Attention U-Net for :func:`load_depth_model`.
PUBLISHED_UNET = "published-unet"
#: Name of the original project's published MiDaS DPT-Large for :func:`load_depth_model`.
PUBLISHED_MIDAS = "published-midas-dpt"
_EXPECTED_FILE = ("a .pt written by train-depth (best.pt / last.pt) or save_depth_model, or an original Attention "
                  "U-Net or MiDaS DPT state dict")


@dataclass(frozen=True)
class DepthModelConfig:
    """Which depth network to build.

    Attributes:
        name: ``"attention_unet"`` or a backbone of :data:`helpers.depth.networks.dpt_config.BACKBONES` (``"dpt-large"``,
            ``"dpt-hybrid-midas"``, ``"depth-anything-v2-small"``, ``"tiny-random-dpt"``, …).
        target: what the output means (module docstring). ``"relative_inverse"`` keeps a transformer's published
            ReLU head; the other targets use a linear last layer.
        input_size: square network input side in pixels; None = the model's default (U-Net 128, the training
            resolution of the original; DPT-Large 384; Depth Anything 518; the original fine-tuned DPT-Large at 128).
        start_filts, n_blocks: U-Net width and depth (the published model: 32, 5). Ignored by transformers.
        pretrained: transformers only: start from the published Hub weights (None = yes for public backbones).
        freeze_backbone: transformers only: train the neck and head, not the encoder.
        z_offset, z_scale: ``"metric_z"`` only: the network's raw output o means ``z = z_offset + z_scale · o``
            (world units), so it regresses a unit-scale residual around the camera distance (EG3D: radius 2.7)
            instead of having to grow a bias of 2.7 from zero. :func:`output_to_target` applies it.
    """

    name: str = "attention_unet"
    target: ModelTarget = "original"
    input_size: int | None = None
    start_filts: int = 32
    n_blocks: int = 5
    pretrained: bool | None = None
    freeze_backbone: bool = False
    z_offset: float = 2.7
    z_scale: float = 0.1

    def __post_init__(self) -> None:
        if self.name != "attention_unet" and self.name not in BACKBONES:
            known = ", ".join(["'attention_unet'", *map(repr, BACKBONES)])
            raise ValueError(f"unknown depth model {self.name!r}; known: {known}")
        if self.target not in _TARGETS:
            raise ValueError(f"target must be one of {', '.join(map(repr, _TARGETS))}, got {self.target!r}")
        if self.is_unet and self.target == "relative_inverse":
            raise ValueError("the Attention U-Net has no published relative-inverse head: use target 'original' or "
                             "'metric_z'")
        if self.is_unet and self.freeze_backbone:
            raise ValueError("freeze_backbone applies to transformer backbones, not the Attention U-Net")
        if not self.z_scale > 0:
            raise ValueError(f"z_scale must be > 0 world units, got {self.z_scale}")
        # Validate sizes now (clear errors before any training starts).
        if self.is_unet:
            self.unet_config()
        elif self.input_size is not None:
            self.transformer_config(pretrained=False)

    @property
    def is_unet(self) -> bool:
        return self.name == "attention_unet"

    def unet_config(self) -> AttentionUNetConfig:
        """The :class:`AttentionUNetConfig` of this model (U-Net only)."""
        return AttentionUNetConfig(n_blocks=self.n_blocks, start_filts=self.start_filts,
                                   input_size=self.input_size or AttentionUNetConfig.input_size)

    def transformer_config(self, pretrained: bool | None = None) -> TransformerDepthConfig:
        """The :class:`TransformerDepthConfig` of this model (transformers only)."""
        output = "relative_inverse" if self.target == "relative_inverse" else "depth"
        return TransformerDepthConfig(backbone=self.name, input_size=self.input_size, output=output,
                                      pretrained=self.pretrained if pretrained is None else pretrained)

    @property
    def resolved_input_size(self) -> int:
        """The network input side actually used (defaults resolved)."""
        if self.is_unet:
            return self.unet_config().input_size
        return int(self.input_size or BACKBONES[self.name].input_size)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def build_depth_model(config: DepthModelConfig) -> nn.Module:
    """A fresh network for ``config`` (U-Net: the original's initialisation from the global RNG; transformers: the
    published weights when ``pretrained``), in train mode, float32, on the CPU."""
    if config.is_unet:
        return AttentionUNet(config.unet_config()).train()
    model = TransformerDepthModel(config.transformer_config())
    if config.freeze_backbone:
        model.freeze_backbone()
    return model.train()


def output_to_target(raw: torch.Tensor, config: DepthModelConfig) -> torch.Tensor:
    """A network's raw output as its target: metric z for ``"metric_z"`` (``z_offset + z_scale · raw``), the raw
    map otherwise."""
    if config.target == "metric_z":
        return raw * config.z_scale + config.z_offset
    return raw


def predict_target(model: nn.Module, config: DepthModelConfig, images: torch.Tensor) -> torch.Tensor:
    """``model.predict(images)`` as the model's target (see :func:`output_to_target`): images ``(N, 3, H, W)`` in
    [0, 1] or uint8 → ``(N, 1, H, W)`` at the images' size."""
    return output_to_target(model.predict(images), config)


def _hf_config_dict(model: nn.Module) -> dict[str, Any] | None:
    hf_model = getattr(model, "hf_model", None)
    return None if hf_model is None else hf_model.config.to_dict()


def model_checkpoint(model: nn.Module, config: DepthModelConfig) -> dict[str, Any]:
    """The checkpoint dict of :func:`save_depth_model` (weights on the CPU), e.g. to embed in a training state."""
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "model": config.as_dict(),
            "hf_config": _hf_config_dict(model), "state_dict": state}


def save_depth_model(model: nn.Module, config: DepthModelConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``model``'s weights and config to ``path`` (atomically: a crash leaves no half-written file)."""
    return save_torch_atomic(path, model_checkpoint(model, config))


class LoadedDepthModel(NamedTuple):
    """What :func:`load_depth_model` returns: the network (eval mode) and its config."""

    model: nn.Module
    config: DepthModelConfig


@dataclass(frozen=True)
class PublishedModel:
    """A published model of the original project that :func:`load_depth_model` loads by name.

    Attributes:
        weights: where the file is published.
        config: what the network is and regresses (its target, input size).
    """

    weights: PublishedWeights
    config: DepthModelConfig


#: The original project's published depth models by registry name. Both regress its per-image [-1, 1] depth
#: (1 = nearest, -1 = farthest point and background) from 128x128 RGB normalised to [-1, 1].
PUBLISHED_MODELS: dict[str, PublishedModel] = {
    PUBLISHED_UNET: PublishedModel(PUBLISHED_WEIGHTS, DepthModelConfig(name="attention_unet", target="original")),
    # MiDaS DPTDepthModel(backbone="vitl16_384", non_negative=False): a linear head, fine-tuned at 128x128.
    PUBLISHED_MIDAS: PublishedModel(PUBLISHED_MIDAS_DPT, DepthModelConfig(name="dpt-large", target="original",
                                                                          input_size=128, pretrained=False)),
}
#: Small models with fixed random weights (:func:`load_depth_model` by name): tests and the notebooks' smoke mode.
TINY_RANDOM_MODELS: dict[str, DepthModelConfig] = {
    "tiny-random-unet": DepthModelConfig(name="attention_unet", start_filts=4, n_blocks=3, input_size=64),
    "tiny-random-dpt": DepthModelConfig(name="tiny-random-dpt", input_size=64),
}


def _is_midas_state(data: Any) -> bool:
    """Whether a loaded checkpoint is a MiDaS DPT state dict (keys ``pretrained.model.*``), bare or wrapped in a
    training state (``{"state_dict": …}``)."""
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    return isinstance(data, dict) and any(str(key).startswith("pretrained.model.") for key in data)


def _load_original_file(source: str | os.PathLike[str] | dict[str, Any], config: DepthModelConfig,
                        device: torch.device | str) -> LoadedDepthModel:
    """A file (or loaded state dict) of the original project as the network of ``config``: a MiDaS DPT (the
    original's setup: linear head at ``config``'s input size) or an Attention U-Net (architecture from the keys)."""
    if not config.is_unet:
        model = load_midas_dpt(source, input_size=config.resolved_input_size, output="depth", map_location=device)
        return LoadedDepthModel(model, config)
    unet = AttentionUNet.load_original_weights(source, map_location=device)  # raises a clear error otherwise
    return LoadedDepthModel(unet, dataclasses.replace(config, start_filts=unet.config.start_filts,
                                                      n_blocks=unet.config.n_blocks))


def _from_checkpoint(checkpoint: dict[str, Any], device: torch.device | str) -> LoadedDepthModel:
    version = checkpoint.get("version")
    if version != CHECKPOINT_VERSION:
        raise ValueError(f"depth model checkpoint version {version!r} is not supported (expected "
                         f"{CHECKPOINT_VERSION}); update the toolkit")
    config = DepthModelConfig(**checkpoint["model"])
    state = checkpoint["state_dict"]
    if config.is_unet:
        with torch.device("meta"):  # no wasted initialisation
            model: nn.Module = AttentionUNet(config.unet_config())
        model.load_state_dict(state, strict=True, assign=True)
    else:
        # Rebuild the architecture from the stored config.json contents (no download, whatever the backbone),
        # without a random initialisation.
        model = TransformerDepthModel.from_weights(config.transformer_config(pretrained=False),
                                                   checkpoint.get("hf_config"), state)
    return LoadedDepthModel(model.to(device).eval(), config)


def load_depth_model(source: str | os.PathLike[str], *, device: torch.device | str = "cpu",
                     cache_dir: str | os.PathLike[str] | None = None) -> LoadedDepthModel:
    """A depth model, in eval mode on ``device``, from one of:

    - a checkpoint of :func:`save_depth_model` or a training state of :mod:`helpers.depth.depth_training`
      (``best.pt`` / ``last.pt``);
    - a name of :data:`PUBLISHED_MODELS` (``"published-unet"``, ``"published-midas-dpt"``): the original authors'
      published model, downloaded once into ``<cache_dir>/depth/`` (Dropbox, else Google Drive; the sha256 of the
      first download is recorded and checked afterwards), converted and returned with its
      :class:`PublishedModel` config (target ``"original"``);
    - a ``.pt`` file of the original project (an Attention U-Net or MiDaS DPT state dict, the MiDaS one taken as
      the original project's: linear head, 128x128 input, target ``"original"``);
    - a backbone name of :data:`helpers.depth.networks.dpt_config.BACKBONES` with Hub weights (``"dpt-large"``, …): the published
      relative-inverse-depth model (needs internet on first use);
    - a name of :data:`TINY_RANDOM_MODELS`: a small model with fixed random weights (tests, smoke mode; offline).
    """

    name = os.fspath(source)
    if name in TINY_RANDOM_MODELS and not Path(name).exists():
        config = TINY_RANDOM_MODELS[name]
        with torch.random.fork_rng(devices=[]):  # fixed weights; the caller's random state untouched
            torch.manual_seed(0)
            model = build_depth_model(config)
        return LoadedDepthModel(model.to(device).eval(), config)
    if name in PUBLISHED_MODELS and not Path(name).exists():
        published = PUBLISHED_MODELS[name]
        path = download_weights(published.weights, cache_dir)
        try:
            return _load_original_file(path, published.config, device)
        except IncompatibleCheckpointError as exc:
            raise IncompatibleCheckpointError(f"{path} is not the published {name!r} model ({exc}); delete it and "
                                              "run again to download it afresh") from None
    if name in BACKBONES and not Path(name).exists():
        config = DepthModelConfig(name=name, target="relative_inverse", pretrained=True)
        return LoadedDepthModel(build_depth_model(config).to(device).eval(), config)
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{name!r} is neither a checkpoint file nor a known model name: give a .pt written by train-depth, "
            f"{' or '.join(map(repr, PUBLISHED_MODELS))}, an original Attention U-Net or MiDaS DPT .pt, or one of "
            f"{', '.join(map(repr, BACKBONES))}"
        )
    data = read_weights(path, what="depth model", expected=_EXPECTED_FILE)
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        return _from_checkpoint(data, device)
    if isinstance(data, dict) and isinstance(data.get("model"), dict) and data["model"].get("format") == \
            CHECKPOINT_FORMAT:  # a training state
        return _from_checkpoint(data["model"], device)
    if _is_midas_state(data):
        del data  # the converter reads the file itself: one copy of DPT-Large's 1.4 GB in memory, not two
        return _load_original_file(path, PUBLISHED_MODELS[PUBLISHED_MIDAS].config, device)
    return _load_original_file(data, PUBLISHED_MODELS[PUBLISHED_UNET].config, device)
