"""StyleGAN2 layers with the official parameter names (``weight``, ``bias``, ``affine``, ...).

Parameters are stored unscaled, as in the official checkpoints; the equalised-learning-rate gains
(``1/sqrt(fan_in)`` times the learning-rate multiplier) are applied at run time. Registration order
matches the official modules, so ``state_dict()`` keys come out in the official order.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from helpers.eg3d.ops import (
    LRELU_GAIN,
    bias_act,
    can_overwrite,
    conv_memory_format,
    modulated_conv2d,
    setup_filter,
    upsample2d,
)

__all__ = ["FullyConnectedLayer", "SynthesisLayer", "ToRGBLayer", "SynthesisBlock", "NOISE_MODES"]

NOISE_MODES = ("const", "random", "none")


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate: ``y = act(x @ (W * lr/sqrt(in)).T + b * lr)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0, generator: torch.Generator | None = None):
        super().__init__()
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features], generator=generator) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            if x.ndim == 2:
                return torch.addmm(b.unsqueeze(0), x, w.t())
            return torch.nn.functional.linear(x, w, b)
        x = x.matmul(w.t())
        return bias_act(x, b, act=self.activation, gain=LRELU_GAIN if self.activation == "lrelu" else 1.0)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution + noise + bias + leaky ReLU (optionally 2x upsampling first).

    Buffers: ``resample_filter`` (4x4 FIR, present even without upsampling, as in the official
    layer) and ``noise_const`` (the fixed noise image used by ``noise_mode='const'``).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int = 1,
                 use_noise: bool = True, conv_clamp: float | None = None, fused: bool | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.resolution, self.up = in_channels, out_channels, resolution, up
        self.use_noise, self.conv_clamp, self.fused = use_noise, conv_clamp, fused
        self.padding = 1
        self.register_buffer("resample_filter", setup_filter())
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1, generator=generator)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 3, 3], generator=generator))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution], generator=generator))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                generator: torch.Generator | None = None) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], generator=generator,
                                device=generator.device if generator is not None else x.device)
            noise = noise.to(x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        # Official: lrelu(conv + noise + bias) * sqrt(2), clamped. The positive gain commutes with
        # the leaky ReLU, so it is folded into the demodulated weights, the noise and the bias.
        g = LRELU_GAIN
        x = modulated_conv2d(x, self.weight, styles, noise=None if noise is None else noise * g, up=self.up,
                             padding=self.padding, resample_filter=self.resample_filter, fused=self.fused,
                             gain=g, bias=self.bias * g)
        return bias_act(x, None, act="lrelu", clamp=self.conv_clamp, inplace=True)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"resolution={self.resolution}, up={self.up}")


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution without demodulation (features -> image / plane channels)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None,
                 fused: bool | None = None, generator: torch.Generator | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.conv_clamp, self.fused = in_channels, out_channels, conv_clamp, fused
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1, generator=generator)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1], generator=generator))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=self.fused, bias=self.bias)
        return bias_act(x, None, clamp=self.conv_clamp, inplace=True)


class SynthesisBlock(nn.Module):
    """One resolution level of the "skip" StyleGAN2 synthesis network.

    ``in_channels == 0`` makes the first block (learned 4x4 ``const`` input, no conv0).
    ``up=2`` (default) doubles the resolution in conv0 and upsamples the incoming skip image;
    ``up=1`` is the official ``SynthesisBlockNoUp`` used by some super-resolution heads.
    Consumes ``num_conv + num_torgb`` ws.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", conv_clamp: float | None = None, use_noise: bool = True,
                 fused: bool | None = None, up: int = 2, generator: torch.Generator | None = None):
        super().__init__()
        if architecture not in ("skip", "orig"):
            raise ValueError(f"architecture {architecture!r} is not supported (EG3D uses 'skip')")
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.is_last, self.architecture, self.up = is_last, architecture, up
        self.register_buffer("resample_filter", setup_filter())
        self.num_conv = 0
        self.num_torgb = 0
        layer_kw = dict(w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp, use_noise=use_noise,
                        fused=fused, generator=generator)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution], generator=generator))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=up, **layer_kw)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer_kw)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp, fused=fused,
                                    generator=generator)
            self.num_torgb += 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "const", generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (N, C_in, R/up, R/up) or None for the first block; img: skip image; ws: (N, k, w_dim)."""
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = x.contiguous(memory_format=conv_memory_format(x))
        else:
            x = x.contiguous(memory_format=conv_memory_format(x))
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, generator=generator)
        x = self.conv1(x, next(w_iter), noise_mode=noise_mode, generator=generator)
        if img is not None and self.up == 2:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter)).to(torch.float32)
            img = y if img is None else (y.add_(img) if can_overwrite(y) else y + img)
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}, up={self.up}"
