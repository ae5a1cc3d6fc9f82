"""The original project's Attention U-Net depth regressor, in plain PyTorch.

The original trained a 2-D U-Net with attention gates (elektronn3's ``UNet`` with ``n_blocks=5, start_filts=32,
up_mode='resizeconv_linear', attention=True, sigmoid_output=False``) to regress a face depth map from one RGB image.
This module rebuilds it so that the published weights (:data:`helpers.depth.networks.unet_weights.PUBLISHED_WEIGHTS`)
load key for key with ``strict=True`` and its outputs match the reference recorded from the original code
(``shared/fixtures/attention_unet_reference``) to float32 rounding; checking and fetching weights live in
:mod:`helpers.depth.networks.unet_weights` and :mod:`helpers.depth.networks.original_weights`.

* :meth:`AttentionUNet.forward` is the raw network: input ``(N, 3, H, W)`` RGB normalised to [-1, 1]
  (``(rgb - 0.5) / 0.5`` with rgb in [0, 1]); output ``(N, 1, H, W)`` depth in the original's per-image normalised
  range [-1, 1] with **1 = nearest** (:mod:`helpers.base.depth_png`). No activation is applied, so values can leave
  [-1, 1] slightly. Any H, W >= :attr:`AttentionUNetConfig.min_input_size` works.
* :meth:`AttentionUNet.predict`: ``(N, 3, H, W)`` float in [0, 1] or uint8 -> ``(N, 1, H, W)`` depth at the input
  size, computed at ``config.input_size`` (128, the training resolution).
* :meth:`AttentionUNet.forward_with_attention` also returns the attention coefficients of every decoder block.
* ``torch.manual_seed(s)`` followed by ``AttentionUNet(config)`` gives the original's initial weights for seed ``s``.

Design notes: docs/design/depth.md (attention_unet): structure and state-dict names, intermediates, initialisation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from helpers.depth.networks.original_weights import read_original_state_dict
from helpers.depth.networks.predict import predict_depth
from helpers.depth.networks.unet_weights import assign_state_dict, state_dict_architecture

__all__ = ["AttentionGate", "AttentionUNet", "AttentionUNetConfig", "DecoderBlock", "EncoderBlock"]


# --------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class AttentionUNetConfig:
    """Hyper-parameters of :class:`AttentionUNet` (defaults: the published model).

    Attributes:
        in_channels: input channels (3: RGB).
        out_channels: output channels (1: depth).
        n_blocks: encoder levels; the decoder has ``n_blocks - 1`` blocks and the input is pooled
            ``n_blocks - 1`` times (by 2, rounding up).
        start_filts: channels of the first level (f); level i has ``f * 2**i`` channels.
        attention: attention gates on the skip connections (the published model has them; the
            original notebook's "old" cell built a model without).
        input_size: side in pixels of the square images :meth:`AttentionUNet.predict` feeds the
            network (the training resolution, 128). :meth:`AttentionUNet.forward` does not use it.
    """

    in_channels: int = 3
    out_channels: int = 1
    n_blocks: int = 5
    start_filts: int = 32
    attention: bool = True
    input_size: int = 128

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "start_filts"):
            if getattr(self, name) < 1:
                raise ValueError(f"AttentionUNetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_blocks < 2:
            raise ValueError(f"AttentionUNetConfig.n_blocks must be >= 2 (one pooling), got {self.n_blocks}")
        if self.input_size < self.min_input_size:
            raise ValueError(
                f"AttentionUNetConfig.input_size must be >= {self.min_input_size} for n_blocks={self.n_blocks}, "
                f"got {self.input_size}"
            )

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels of encoder levels 0..n_blocks-1 (``start_filts * 2**i``)."""
        return tuple(self.start_filts * 2**i for i in range(self.n_blocks))

    @property
    def min_input_size(self) -> int:
        """Smallest H and W the network accepts: the deepest skip tensor that feeds an attention
        gate (after ``n_blocks - 2`` poolings) must be at least 2 pixels for the gate's stride-2 conv."""
        return 2 ** (self.n_blocks - 2) + 1

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any], input_size: int = 128) -> AttentionUNetConfig:
        """The config whose model has the keys of ``state`` (an original or toolkit state dict).

        in_channels and start_filts come from the first conv's shape, n_blocks from the number of
        ``down_convs.{i}`` blocks, out_channels from ``conv_final``, attention from the presence of
        ``*.attention.*`` keys. ``input_size`` is not stored in weights and is passed through.

        Raises:
            IncompatibleCheckpointError: ``state`` is not an Attention U-Net state dict.
        """
        return cls(**state_dict_architecture(state), input_size=input_size)


# --------------------------------------------------------------------------------------- blocks
def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


class EncoderBlock(nn.Module):
    """Two 3x3 conv -> BatchNorm -> ReLU stages: ``(N, C_in, H, W) -> (N, C_out, H, W)``.

    The output is the level's skip tensor; pooling is left to :class:`AttentionUNet`.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        # Registration order = the original's state-dict order (convs before norms).
        self.conv1 = _conv3x3(in_channels, out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.norm0 = nn.BatchNorm2d(out_channels)
        self.norm1 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm0(self.conv1(x)))
        return F.relu(self.norm1(self.conv2(x)))


class ResizeConv(nn.Module):
    """Bilinear 2x up-sampling (``align_corners=False``) then a 3x3 conv: ``(N, C_in, h, w) ->
    (N, C_out, 2h, 2w)``. The original's "resizeconv_linear" mode (no transposed convolution,
    hence no checkerboard artefacts)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = _conv3x3(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al. 2018, "Attention U-Net") on a skip tensor.

    ``forward(x, g)`` with skip ``x`` ``(N, C, H, W)`` and gating signal ``g`` ``(N, C_g, h, w)``
    (the coarser decoder tensor, h ~ H/2) returns ``(W(a * x), a)``: the gated skip ``(N, C, H, W)``
    and the coefficients ``a`` ``(N, 1, H, W)`` in (0, 1), where
    ``a = resize(sigmoid(psi(relu(theta(x) + resize(phi(g))))))``; theta is a 2x2 stride-2 conv
    without bias, resizes are bilinear with ``align_corners=False``, W is a 1x1 conv + BatchNorm.

    Own initialisation (drawn at construction): Kaiming-normal conv weights (fan-in), BatchNorm
    weight ~ N(1, 0.02) and bias 0. :class:`AttentionUNet` then re-initialises the convs (Xavier).
    """

    def __init__(self, channels: int, gating_channels: int, inter_channels: int | None = None) -> None:
        super().__init__()
        inter = inter_channels if inter_channels is not None else max(channels // 2, 1)
        # Registration order = the original's state-dict order (w before theta/phi/psi).
        self.w = nn.Sequential(nn.Conv2d(channels, channels, kernel_size=1), nn.BatchNorm2d(channels))
        self.theta = nn.Conv2d(channels, inter, kernel_size=2, stride=2, bias=False)
        self.phi = nn.Conv2d(gating_channels, inter, kernel_size=1)
        self.psi = nn.Conv2d(inter, 1, kernel_size=1)
        self._init_own_weights()

    def _init_own_weights(self) -> None:
        # Same modules, same order and same draws as the original gate's initialiser.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        theta_x = self.theta(x)
        # Odd skip sizes: theta rounds down, the ceil-pooled gating signal is one pixel larger.
        phi_g = _resize_to(self.phi(g), theta_x.shape[-2:])
        coefficients = torch.sigmoid(self.psi(F.relu(theta_x + phi_g)))
        coefficients = _resize_to(coefficients, x.shape[-2:])
        return self.w(coefficients * x), coefficients


class DecoderBlock(nn.Module):
    """Up-sample the decoder tensor, merge the (gated) skip tensor, two conv stages.

    ``forward(enc, dec)``: skip ``enc`` ``(N, C, H, W)``, decoder tensor ``dec`` ``(N, 2C, ceil(H/2),
    ceil(W/2))`` -> ``(output (N, C, H, W), attention coefficients (N, 1, H, W) or None)``.
    """

    def __init__(self, in_channels: int, out_channels: int, attention: bool = True) -> None:
        super().__init__()
        self.upconv = ResizeConv(in_channels, out_channels)
        self.conv1 = _conv3x3(2 * out_channels, out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.norm0 = nn.BatchNorm2d(out_channels)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.attention = AttentionGate(out_channels, in_channels) if attention else None

    def forward(self, enc: torch.Tensor, dec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        up = _crop_top_left(self.upconv(dec), enc.shape[-2:])
        # The gate is driven by the decoder tensor before up-sampling, as in the original.
        if self.attention is not None:
            skip, coefficients = self.attention(enc, dec)
        else:
            skip, coefficients = enc, None
        merged = torch.cat((F.relu(self.norm0(up)), skip), dim=1)
        y = F.relu(self.norm1(self.conv1(merged)))
        return F.relu(self.norm2(self.conv2(y))), coefficients


def _resize_to(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (``align_corners=False``) to ``size``; identity when already that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _crop_top_left(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Keep the top-left ``size`` part of ``x``: after ceil-mode pooling of an odd size the 2x
    up-sampled tensor is one pixel larger than the skip tensor it is merged with."""
    return x[..., : size[0], : size[1]]


# -------------------------------------------------------------------------------------- network
class AttentionUNet(nn.Module):
    """The original Attention U-Net (see the module docstring for conventions and names).

    Build a fresh model with ``AttentionUNet(config)`` (original initialisation from the global
    RNG, training mode) or load the published/original weights with :meth:`load_original_weights`.
    """

    def __init__(self, config: AttentionUNetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else AttentionUNetConfig()
        channels = self.config.channels
        self.down_convs = nn.ModuleList(
            EncoderBlock(self.config.in_channels if i == 0 else channels[i - 1], channels[i])
            for i in range(self.config.n_blocks)
        )
        self.up_convs = nn.ModuleList(
            DecoderBlock(channels[i], channels[i - 1], attention=self.config.attention)
            for i in range(self.config.n_blocks - 1, 0, -1)
        )
        self.conv_final = nn.Conv2d(channels[0], self.config.out_channels, kernel_size=1)
        self._init_weights()

    def _init_weights(self) -> None:
        # Xavier-normal for every conv, gate convs included (what the original effectively did).
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    # --------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw network: ``(N, in_channels, H, W)`` normalised to [-1, 1] -> ``(N, out_channels, H, W)``
        depth in the normalised [-1, 1] range (1 = near), without activation."""
        return self.forward_with_attention(x)[0]

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Like :meth:`forward`, also returning the attention coefficients of the decoder blocks,
        deepest first, each ``(N, 1, h_k, w_k)`` at the resolution of that block's skip tensor
        (an empty list when ``config.attention`` is False)."""
        self._check_input(x)
        skips: list[torch.Tensor] = []
        for i, block in enumerate(self.down_convs):
            if i > 0:
                x = F.max_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)
            x = block(x)
            skips.append(x)
        attention_maps: list[torch.Tensor] = []
        for block, skip in zip(self.up_convs, reversed(skips[:-1])):
            x, coefficients = block(skip, x)
            if coefficients is not None:
                attention_maps.append(coefficients)
        return self.conv_final(x), attention_maps

    def _check_input(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"expected input of shape (N, {cfg.in_channels}, H, W), got {tuple(x.shape)}")
        if min(x.shape[-2:]) < cfg.min_input_size:
            raise ValueError(
                f"input of {x.shape[-2]}x{x.shape[-1]} pixels is too small for n_blocks={cfg.n_blocks}: "
                f"H and W must be >= {cfg.min_input_size}"
            )

    # --------------------------------------------------------------------------- inference
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Depth maps for RGB images, at the images' size.

        Args:
            images: ``(N, 3, H, W)`` float in [0, 1], or uint8 in 0..255; any device (moved to the
                model's). Non-square images are stretched to the square network input and the
                depth back, so aligned square face crops (as in training) work best.

        Returns:
            ``(N, 1, H, W)`` float depth on the images' device, in the normalised range [-1, 1]
            with 1 = nearest (not clamped). Computed under ``torch.inference_mode``, so the result
            carries no autograd history.

        The images are resized to ``config.input_size`` squared (bilinear, antialiased when
        shrinking), normalised with mean 0.5 / std 0.5, run through the network in eval mode
        (BatchNorm running statistics; each submodule's train/eval state is restored afterwards)
        and the depth is resized back the same way. The original resized with OpenCV bicubic
        interpolation (no antialiasing), so results differ slightly from its notebook.
        """
        return predict_depth(self, images, channels=self.config.in_channels, input_size=self.config.input_size,
                             normalize=lambda x: x * 2.0 - 1.0)

    # --------------------------------------------------------------------------- weights
    @classmethod
    def load_original_weights(
        cls,
        path_or_state_dict: str | os.PathLike[str] | Mapping[str, Any],
        *,
        config: AttentionUNetConfig | None = None,
        map_location: str | torch.device = "cpu",
    ) -> AttentionUNet:
        """A model holding the weights of an original ``.pt`` checkpoint (or a state dict).

        Args:
            path_or_state_dict: a file saved by the original notebook (``torch.save(model.state_dict())``,
                or its ``{'state_dict': ..., 'optimizer': ...}`` training state), read with
                ``torch.load(weights_only=True)`` so no pickled code runs; or a mapping name -> tensor
                or numpy array (e.g. an ``.npz``'s contents).
            config: the expected architecture; default: inferred from the keys
                (:meth:`AttentionUNetConfig.from_state_dict`). Give it to insist on an architecture.
            map_location: device of the returned model (and of the tensors read from a file).

        Returns:
            The model in eval mode (call ``.train()`` to fine-tune), float32 parameters on
            ``map_location``.

        Raises:
            IncompatibleCheckpointError: keys or shapes do not fit; the message names the missing
                and unexpected keys and the mismatched shapes (e.g. a checkpoint trained without
                attention gates given with ``config.attention=True``).
        """
        state = read_original_state_dict(path_or_state_dict, map_location=map_location)
        if config is None:
            config = AttentionUNetConfig.from_state_dict(state)
        with torch.device("meta"):  # no wasted initialisation, no draw from the global RNG
            model = cls(config)
        assign_state_dict(model, state)  # checks keys and shapes; replaces the meta tensors
        return model.to(map_location).eval()
