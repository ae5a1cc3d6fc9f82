"""Plain-PyTorch equivalents of the StyleGAN2 custom ops (bias_act, upfirdn2d, modulated conv).

No custom CUDA/C++ extensions: everything is expressed with ``conv2d``/``conv_transpose2d``, GEMMs and
element-wise ops, so it runs wherever PyTorch does (tested: CPU float32 and CPU bf16 autocast).
On CPU, activations are kept channels-last (see :func:`conv_memory_format`).

FIR filters follow ``upfirdn2d.setup_filter``: a 1-D tap list ``[1, 3, 3, 1]`` becomes the
normalised 2-D outer product (sum 1), stored as the ``resample_filter`` buffers of the official
state dict. Upsampling by 2 multiplies it by ``up**2 = 4`` to keep the DC gain.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "LRELU_GAIN",
    "normalize_2nd_moment",
    "bias_act",
    "setup_filter",
    "upsample2d",
    "modulated_conv2d",
    "can_overwrite",
    "autocast_dtype",
    "conv_memory_format",
]

#: Gain that keeps the variance of a leaky-ReLU(0.2) output (StyleGAN's default for 'lrelu').
LRELU_GAIN = math.sqrt(2.0)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit root-mean-square along ``dim``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def can_overwrite(x: torch.Tensor) -> bool:
    """True when ``x`` may be modified in place: no autograd graph will need it.

    In-place element-wise ops matter on CPU, where every fresh large tensor costs page faults.
    Only call this on temporaries the caller created (e.g. a convolution output).
    """
    return not (torch.is_grad_enabled() and x.requires_grad)


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    act: str = "linear",
    gain: float = 1.0,
    clamp: float | None = None,
    inplace: bool = False,
) -> torch.Tensor:
    """Add a per-channel bias (channel axis 1), apply ``act``, multiply by ``gain``, clamp to +-clamp.

    ``act`` is ``'linear'`` or ``'lrelu'`` (slope 0.2), in the official operation order.
    ``inplace=True`` overwrites ``x`` when autograd allows it (see :func:`can_overwrite`).
    """
    if act not in ("linear", "lrelu"):
        raise ValueError(f"unsupported activation {act!r}")
    if inplace and can_overwrite(x):
        if b is not None:
            x.add_(b.to(x.dtype).reshape([-1 if i == 1 else 1 for i in range(x.ndim)]))
        if act == "lrelu":
            F.leaky_relu_(x, 0.2)
        if gain != 1:
            x.mul_(gain)
        if clamp is not None and clamp >= 0:
            x.clamp_(-clamp, clamp)
        return x
    if b is not None:
        x = x + b.to(x.dtype).reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def setup_filter(taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """Normalised 2-D FIR filter (outer product of ``taps``, summing to 1), float32."""
    f = torch.as_tensor(list(taps), dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _depthwise(f: torch.Tensor, channels: int, dtype: torch.dtype, gain: float) -> torch.Tensor:
    # (C, 1, fh, fw) weight for a per-channel filter. conv2d is correlation; the official op
    # convolves (flips the filter). Symmetric filters make the flip a no-op, but keep it exact.
    w = (f * gain).flip([0, 1]).to(dtype)
    return w[None, None].expand(channels, 1, *f.shape).contiguous()


def filter2d_padded(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int], gain: float = 1.0,
                    bias: torch.Tensor | None = None) -> torch.Tensor:
    """Zero-pad ``x`` by ``pad = (left, right, top, bottom)``, filter every channel with ``f``, add ``bias``."""
    c = x.shape[1]
    w = _depthwise(f, c, x.dtype, gain)
    b = bias.to(x.dtype) if bias is not None else None
    left, right, top, bottom = pad
    if left == right and top == bottom and left >= 0 and top >= 0:  # let conv2d pad: no extra copy
        return F.conv2d(x, w, b, padding=(top, left), groups=c)
    return F.conv2d(F.pad(x, list(pad)), w, b, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x FIR upsampling (official ``upfirdn2d.upsample2d`` with a 4x4 filter): (H, W) -> (2H, 2W).

    Zero insertion + padding (2, 1) + filtering equals one strided depthwise transposed convolution.
    """
    c = x.shape[1]
    fh, fw = f.shape
    if (fh, fw) != (4, 4):
        raise ValueError("upsample2d expects a 4x4 filter")
    w = (f * 4.0).to(x.dtype)[None, None].expand(c, 1, fh, fw).contiguous()
    # conv_transpose2d applies the kernel unflipped in the "scatter" sense, which is a convolution.
    return F.conv_transpose2d(x, w, stride=2, padding=1, groups=c)


def _conv(x: torch.Tensor, w: torch.Tensor, up: int, padding: int, groups: int, f: torch.Tensor | None,
          bias: torch.Tensor | None = None) -> torch.Tensor:
    """conv2d (+ per-output-channel ``bias``) with optional 2x upsampling (official
    ``conv2d_resample`` for up in {1, 2}, down=1). The bias rides in the convolution's epilogue."""
    # oneDNN picks the output layout from input *and* weight; a weight in another layout (e.g. a
    # transposed view) silently turns the whole rest of the network back to NCHW.
    fmt = torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        and not x.is_contiguous() else torch.contiguous_format
    b = bias.to(x.dtype) if bias is not None else None
    if up == 1 and groups == 1 and w.shape[2:] == (1, 1) and x.device.type == "cpu":
        # 1x1 convolution as one GEMM in whichever layout x has (oneDNN would convert a channels-last
        # input to NCHW, since a 1x1 weight looks contiguous in both layouts).
        if fmt == torch.channels_last:
            return F.linear(x.permute(0, 2, 3, 1), w[:, :, 0, 0], b).permute(0, 3, 1, 2)
        n, c, h, wd = x.shape
        y = torch.matmul(w[:, :, 0, 0], x.reshape(n, c, h * wd)).reshape(n, -1, h, wd)
        return y if b is None else y + b.reshape(1, -1, 1, 1)
    if up == 1:
        return F.conv2d(x, w.contiguous(memory_format=fmt), b, padding=padding, groups=groups)
    if up != 2 or f is None:
        raise ValueError("only up=1 or up=2 with a filter is supported")
    out_c, in_per_group, kh, kw = w.shape
    # Transposed conv expects (in, out/groups, kh, kw). The official code uses the weight unflipped
    # here: it convolves (not correlates) on the upsampled grid, as StyleGAN2 does.
    if groups == 1:
        wt = w.transpose(0, 1)
    else:
        wt = w.reshape(groups, out_c // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_c // groups, kh, kw)
    fh, fw = f.shape
    # Padding bookkeeping of the official op for a 3x3 kernel, 4x4 filter, padding 1:
    # the transposed conv yields 2H+1 rows; the filter then trims back to 2H.
    p0 = padding + (fw + up - 1) // 2 - (kw - 1)
    p1 = padding + (fw - up) // 2 - (kw - up)
    pt = max(min(-p0, -p1), 0)
    x = F.conv_transpose2d(x, wt.contiguous(memory_format=fmt), stride=2, padding=pt, groups=groups)
    p0, p1 = p0 + pt, p1 + pt
    return filter2d_padded(x, f, (p0, p1, p0, p1), gain=float(up * up), bias=b)


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The active ``torch.autocast`` dtype for a device type, or None when autocast is off."""
    try:
        on = torch.is_autocast_enabled(device_type)
        return torch.get_autocast_dtype(device_type) if on else None
    except (TypeError, AttributeError):  # torch < 2.4: per-device functions
        if device_type == "cuda":
            return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None
        if device_type == "cpu":
            return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
        return None


def _autocast_half(x: torch.Tensor) -> bool:
    return x.dtype == torch.float16 or autocast_dtype(x.device.type) == torch.float16


def conv_memory_format(x: torch.Tensor) -> torch.memory_format:
    """Preferred activation layout for convolutions: channels-last on CPU (oneDNN runs the
    convolutions and FIR filters 2-4x faster in it), the default layout elsewhere."""
    return torch.channels_last if x.device.type == "cpu" else torch.contiguous_format


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    fused: bool | None = None,
    gain: float = 1.0,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution (weight demodulation): ``gain * conv + bias + noise``.

    x: (N, I, H, W); weight: (O, I, k, k); styles: (N, I); bias: (O,); noise broadcastable to
    (N, O, H', W') (added as given, not scaled by ``gain``). Folding a positive activation gain
    and the bias into the convolution saves passes over large activations (the official code
    adds the bias and multiplies by the gain after the activation; the results differ by rounding).
    ``fused=True`` builds per-sample weights and runs one grouped convolution (official inference
    path); ``fused=False`` scales activations instead and shares one weight across the batch
    (mathematically equivalent; differences are float rounding, ~1e-6). ``None`` picks fused for
    N = 1 or off-CPU, unfused for CPU batches (a grouped convolution cannot keep channels-last).
    """
    n = x.shape[0]
    out_c, in_c, kh, kw = weight.shape
    if fused is None:
        fused = n == 1 or x.device.type != "cpu"
    if _autocast_half(x) and demodulate:
        # Pre-normalise to keep fp16 activations in range (cancelled by demodulation).
        weight = weight * (1 / math.sqrt(in_c * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # (N, O, I, k, k)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # (N, O)

    if not fused:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = _conv(x, weight.to(x.dtype), up, padding, 1, resample_filter)
        scale = dcoefs * gain if demodulate else (None if gain == 1 else torch.full((n, out_c), gain))
        inplace = can_overwrite(x)
        if scale is not None:
            d = scale.to(device=x.device, dtype=x.dtype).reshape(n, -1, 1, 1)
            x = x.mul_(d) if inplace else x * d
        if bias is not None:
            b = bias.to(x.dtype).reshape(1, -1, 1, 1)
            x = x.add_(b) if inplace else x + b
    else:
        if demodulate:
            w = w * (dcoefs * gain).reshape(n, -1, 1, 1, 1)
        elif gain != 1:
            w = w * gain
        x = x.reshape(1, -1, *x.shape[2:])  # a view for N = 1 in either memory format
        w = w.reshape(-1, in_c, kh, kw)
        b = bias.repeat(n) if bias is not None and n > 1 else bias
        x = _conv(x, w.to(x.dtype), up, padding, n, resample_filter, bias=b)
        x = x.reshape(n, -1, *x.shape[2:])
        inplace = can_overwrite(x)
    if noise is not None:
        noise = noise.to(x.dtype)
        x = x.add_(noise) if inplace else x + noise
    return x
