"""LPIPS-VGG16 perceptual distance (Zhang et al., CVPR 2018, ``lpips`` v0.1, ``net="vgg"``) in plain PyTorch.

What it computes. Both images go through a fixed input scaling and the convolutional part of an ImageNet VGG16;
the activations after relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 are taken. Per layer ``l`` and pixel, the
feature vector is scaled to unit length over channels (``f / (||f||_2 + 1e-10)``), the two images' unit vectors
are subtracted and squared channel-wise, a learned non-negative 1×1 convolution without bias (``w_l``, shape
``(1, C_l, 1, 1)``, C = 64, 128, 256, 512, 512) weights the channels, and the map is averaged over space::
    d(x, y) = sum_l mean_{h,w} sum_c w_{l,c} (u^l_{hwc}(x) - u^l_{hwc}(y))^2

Units: dimensionless, ``>= 0``, ``0`` for identical images, symmetric; a few tenths for visibly different
images with the published weights. Inputs are RGB ``(N, 3, H, W)`` in ``[-1, 1]`` (``normalize=True``: in
``[0, 1]``), ``H, W >= 16`` (four 2×2 poolings before relu5_3). It is used as the perceptual loss of GAN
inversion (W optimisation and pivotal tuning), so gradients flow to the inputs; the weights are frozen.

Weights (:data:`WEIGHTS`, fetched by :func:`load_lpips` through :func:`helpers.download.http_download.download`,
cached): torchvision's ImageNet VGG16 (``vgg16``; only the ``features.*`` tensors are used) and the LPIPS v0.1 linear
layers for VGG (``lpips-vgg-v0.1``), plain state dicts read with ``torch.load(weights_only=True)`` and checked.

Design notes: docs/design/invert.md (lpips): the weights' sources, why not NVIDIA's ``vgg16.pt``, what was checked.
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn

from helpers.download.http_download import default_cache_dir, download

__all__ = [
    "LPIPS",
    "LPIPS_CHANNELS",
    "WEIGHTS",
    "VGG16Features",
    "WeightFile",
    "downsample_for_lpips",
    "load_lpips",
    "unit_normalize",
]

#: Channels of the five tapped VGG16 layers (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3).
LPIPS_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)
#: lpips v0.1 input scaling, applied as ``(x - shift) / scale`` to RGB in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10
# VGG16 configuration "D" up to relu5_3: output channels of each conv, "M" = 2×2 max-pool.
_VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# Indices in ``features`` of the ReLUs LPIPS reads (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3).
_TAPS: tuple[int, ...] = (3, 8, 15, 22, 29)

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------------------- weight files
@dataclass(frozen=True)
class WeightFile:
    """A published weight file.

    Attributes:
        name: registry key.
        url: download URL.
        filename: file name in the cache (the LPIPS file is called ``vgg.pth`` upstream: too generic for a
            shared cache, so it is stored under a longer name).
        sha256, size: of the file, when known (``None``: recorded by the downloader at the first download).
        description: what the file holds.
        licence: terms of the weights.
    """

    name: str
    url: str
    filename: str
    sha256: str | None
    size: int | None
    description: str
    licence: str


#: The two files :func:`load_lpips` downloads for ``weights="pretrained"``.
WEIGHTS: dict[str, WeightFile] = {
    "vgg16": WeightFile(
        name="vgg16",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        filename="vgg16-397923af.pth",
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        size=553_433_881,
        description="torchvision's ImageNet VGG16 state dict (features.* and classifier.*)",
        licence="torchvision (BSD-3-Clause); VGG16 weights of Simonyan & Zisserman (Oxford VGG, CC BY 4.0)",
    ),
    "lpips-vgg-v0.1": WeightFile(
        name="lpips-vgg-v0.1",
        url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
        filename="lpips-v0.1-vgg.pth",
        sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        size=None,
        description="LPIPS v0.1 linear layers for VGG16 (lin0.model.1.weight ... lin4.model.1.weight)",
        licence="BSD-2-Clause (richzhang/PerceptualSimilarity)",
    ),
}


# --------------------------------------------------------------------------------------------- modules
class _FrozenConv2d(nn.Conv2d):
    """A Conv2d whose construction draws no random numbers: parameters start at zero.

    ``nn.Conv2d`` initialises itself from the global RNG; the LPIPS weights are always loaded or filled from a
    private generator afterwards, so touching the caller's RNG state would only make their runs irreproducible.
    """

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class VGG16Features(nn.Module):
    """The convolutional part of VGG16 up to relu5_3, named like torchvision's ``vgg16().features``.

    ``features`` is a ``Sequential`` of 30 modules (13 3×3 convs with padding 1, each followed by a ReLU, and 4
    2×2 max-pools) whose state-dict keys are ``features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.{weight,bias}``, so
    the ``features.*`` tensors of ``vgg16-397923af.pth`` load by key. The final pool (index 30) is omitted: LPIPS
    never uses it. Parameters start at zero (see :func:`load_lpips`).

    Input: ``(N, 3, H, W)`` already normalised as the weights expect; output: the five ReLU maps at strides 1, 2,
    4, 8, 16 (channels :data:`LPIPS_CHANNELS`).
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for item in _VGG16_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                out_channels = int(item)
                layers += [_FrozenConv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
                in_channels = out_channels
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""
        taps: list[torch.Tensor] = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _TAPS:
                taps.append(x)
        return taps


def unit_normalize(features: torch.Tensor, eps: float = _EPS) -> torch.Tensor:
    """``features / (||features||_2 over channels + eps)`` for ``(N, C, H, W)`` maps (lpips' ``normalize_tensor``).

    The norm comes from ``torch.linalg.vector_norm``, whose gradient is defined as 0 where a pixel's feature
    vector is all zero (frequent after a ReLU); ``sqrt(sum(x**2))`` would give NaN gradients there.
    """
    return features / (torch.linalg.vector_norm(features, dim=1, keepdim=True) + eps)


class LPIPS(nn.Module):
    """LPIPS-VGG16 v0.1 distance between two batches of RGB images; see the module docstring for the formula.

    Build it with :func:`load_lpips` (pretrained, local files or seeded random weights); ``LPIPS()`` alone has
    all-zero weights. State-dict keys: ``vgg.features.<i>.{weight,bias}`` and ``lins.<l>.weight`` (shape
    ``(1, C_l, 1, 1)``). The module is frozen: parameters have ``requires_grad=False`` and it stays in eval mode
    even when a parent module calls ``.train()`` (lpips' dropout before the 1×1 convs is therefore omitted: it
    is inactive in eval mode).
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        # Constants, not weights: kept out of the state dict.
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.vgg = VGG16Features()
        self.lins = nn.ModuleList(_FrozenConv2d(c, 1, kernel_size=1, bias=False) for c in LPIPS_CHANNELS)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPS:
        """Always eval mode: LPIPS is a fixed metric, never trained here."""
        return super().train(False)

    def features(self, x: torch.Tensor, normalize: bool = False) -> list[torch.Tensor]:
        """Unit-normalised VGG features of ``x`` (5 maps), after lpips' input scaling."""
        if normalize:
            x = 2 * x - 1
        x = (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype)
        return [unit_normalize(f) for f in self.vgg(x)]

    def layer_distances(self, x: torch.Tensor, y: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Per-layer terms ``(N, 5)``; :meth:`forward` is their sum over the last axis.

        Args and shapes as :meth:`forward`.
        """
        _check_pair(x, y)
        return self._terms(self.features(x, normalize), self.features(y, normalize))

    def _terms(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
        # A batch-1 side is broadcast in the difference, so a fixed target's features are computed once.
        terms = [lin((a - b).square()).mean(dim=(2, 3)) for lin, a, b in zip(self.lins, fx, fy)]
        return torch.cat(terms, dim=1)

    def distance_to_features(self, x: torch.Tensor, target: list[torch.Tensor]) -> torch.Tensor:
        """``(N,)`` distances from images ``x`` (in [-1, 1]) to a fixed image whose :meth:`features` are
        ``target`` (computed once: what an optimisation loop against one photo needs)."""
        if len(target) != len(self.lins):
            raise ValueError(f"expected {len(self.lins)} feature maps from LPIPS.features, got {len(target)}")
        return self._terms(self.features(x), target).sum(dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """LPIPS distance per image pair.

        Args:
            x, y: RGB ``(N, 3, H, W)`` in ``[-1, 1]`` (or ``[0, 1]`` with ``normalize=True``), same ``H, W``
                (``>= 16``); one of them may have batch 1 and is broadcast.
            normalize: inputs are in ``[0, 1]`` (mapped to ``[-1, 1]`` first).

        Returns:
            ``(N,)`` distances (dimensionless, ``>= 0``), differentiable w.r.t. ``x`` and ``y``.
        """
        return self.layer_distances(x, y, normalize).sum(dim=1)


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    for name, t in (("x", x), ("y", y)):
        if t.ndim != 4 or t.shape[1] != 3:
            raise ValueError(f"LPIPS: {name} must be RGB images (N, 3, H, W), got shape {tuple(t.shape)}")
    if x.shape[2:] != y.shape[2:]:
        raise ValueError(f"LPIPS: x and y must have the same size, got {tuple(x.shape[2:])} and {tuple(y.shape[2:])}")
    if min(x.shape[2:]) < 16:
        raise ValueError(f"LPIPS needs images of at least 16×16 pixels (4 poolings), got {tuple(x.shape[2:])}")
    if x.shape[0] != y.shape[0] and 1 not in (x.shape[0], y.shape[0]):
        raise ValueError(f"LPIPS: batch sizes {x.shape[0]} and {y.shape[0]} differ and neither is 1")


def downsample_for_lpips(x: torch.Tensor, size: int = 256) -> torch.Tensor:
    """Area-downsample ``(N, C, H, W)`` images whose larger side exceeds ``size`` so that it becomes ``size``.

    This is what GAN projectors do before the perceptual loss (EG3D/StyleGAN2-ADA: 512² → 256², ``mode="area"``,
    i.e. each output pixel is the mean of the input pixels it covers; an integer ratio averages k×k blocks).
    Non-square images keep their aspect ratio (the smaller side is rounded). Images already within ``size`` are
    returned unchanged (the same tensor).
    """
    if x.ndim != 4:
        raise ValueError(f"downsample_for_lpips expects (N, C, H, W) images, got shape {tuple(x.shape)}")
    height, width = x.shape[2:]
    if max(height, width) <= size:
        return x
    factor = size / max(height, width)
    target = (max(1, round(height * factor)), max(1, round(width * factor)))
    return F.interpolate(x, size=target, mode="area")


# -------------------------------------------------------------------------------------------- loading
def _shapes(module: type[nn.Module]) -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes of ``module()``, built on the meta device (no memory, no RNG)."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in module().state_dict().items()}


def _vgg_file_shapes() -> dict[str, tuple[int, ...]]:
    """Expected ``features.*`` keys and shapes of torchvision's VGG16 state dict."""
    return _shapes(VGG16Features)


def _lin_file_shapes() -> dict[str, tuple[int, ...]]:
    """Expected keys and shapes of the lpips v0.1 linear-layer file."""
    return {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate(LPIPS_CHANNELS)}


def _read_state_dict(path: PathLike, expected: str) -> dict[str, torch.Tensor]:
    """Tensors of a ``torch.save``-d state dict, read without executing code from the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weight file {path} not found (expected {expected})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a readable PyTorch state dict (expected {expected}): {exc}") from None
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors (expected {expected}); got {type(obj).__name__}")
    return {str(k): v for k, v in obj.items()}


def _check_keys(state: Mapping[str, torch.Tensor], shapes: Mapping[str, tuple[int, ...]], path: PathLike,
                expected: str, hint: str = "") -> None:
    """Raise a ValueError naming every missing, unexpected or wrongly shaped key."""
    missing = sorted(set(shapes) - set(state))
    unexpected = sorted(set(state) - set(shapes))
    wrong = [f"{k} {tuple(state[k].shape)} instead of {shapes[k]}" for k in shapes
             if k in state and tuple(state[k].shape) != shapes[k]]
    problems = [f"{label}: {', '.join(items)}" for label, items in
                (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)) if items]
    if problems:
        raise ValueError(f"{path} is not {expected}: " + "; ".join(problems) + (f" ({hint})" if hint else ""))


def _looks_like_lin_file(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("lin") and ".model." in k for k in state)


def _load_vgg_file(path: PathLike) -> dict[str, torch.Tensor]:
    expected = "torchvision's ImageNet VGG16 state dict (vgg16-397923af.pth: features.<i>.weight/bias)"
    state = _read_state_dict(path, expected)
    features = {k: v for k, v in state.items() if not k.startswith("classifier.")}  # the classifier is unused
    hint = "this looks like the LPIPS linear-layer file: pass (vgg_path, lin_path)" if _looks_like_lin_file(state) else ""
    _check_keys(features, _vgg_file_shapes(), path, expected, hint)
    return {f"vgg.{k}": v for k, v in features.items()}


def _load_lin_file(path: PathLike) -> dict[str, torch.Tensor]:
    expected = "the LPIPS v0.1 VGG linear-layer file (lpips/weights/v0.1/vgg.pth: lin0.model.1.weight ...)"
    state = _read_state_dict(path, expected)
    hint = "this looks like the VGG16 file: pass (vgg_path, lin_path)" if any(k.startswith("features.") for k in state) else ""
    _check_keys(state, _lin_file_shapes(), path, expected, hint)
    return {f"lins.{i}.weight": state[f"lin{i}.model.1.weight"] for i in range(len(LPIPS_CHANNELS))}


def _load_combined_file(path: PathLike) -> dict[str, torch.Tensor]:
    expected = "a state dict saved from helpers.invert.lpips.LPIPS (vgg.features.* and lins.*)"
    state = _read_state_dict(path, expected)
    hint = ""
    if any(k.startswith("features.") for k in state) or _looks_like_lin_file(state):
        hint = "this looks like one of the two published files: pass both as (vgg_path, lin_path)"
    _check_keys(state, _shapes(LPIPS), path, expected, hint)
    return state


def _random_state(seed: int) -> dict[str, torch.Tensor]:
    """Deterministic random weights from a private generator (the global RNG is not touched).

    VGG convs: Kaiming normal (fan_out, ReLU gain: std = sqrt(2 / (C_out·9))), zero biases, as torchvision
    initialises VGG. Linear layers: uniform in [0, 0.2) (LPIPS weights are non-negative).
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in _shapes(LPIPS).items():
        if key.startswith("lins."):
            state[key] = torch.rand(shape, generator=generator) * 0.2
        elif key.endswith(".bias"):
            state[key] = torch.zeros(shape)
        else:
            fan_out = shape[0] * shape[2] * shape[3]
            state[key] = torch.randn(shape, generator=generator) * math.sqrt(2.0 / fan_out)
    return state


def _download(entry: WeightFile, cache_dir: PathLike | None, progress: bool) -> Path:
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return download(entry.url, folder / entry.filename, sha256=entry.sha256, size=entry.size, progress=progress)


def load_lpips(
    weights: str | os.PathLike[str] | tuple[PathLike, PathLike] = "pretrained",
    *,
    device: str | torch.device = "cpu",
    cache_dir: PathLike | None = None,
    progress: bool = True,
    seed: int = 0,
) -> LPIPS:
    """Build a frozen :class:`LPIPS` module.

    Args:
        weights: ``"pretrained"``: download (or reuse from the cache) the two files of :data:`WEIGHTS`;
            ``(vgg_path, lin_path)``: local copies of those two files (torchvision's ``vgg16-397923af.pth``, whose
            ``classifier.*`` keys are ignored, and lpips' ``v0.1/vgg.pth``); ``"random"``: deterministic random
            weights from ``seed`` (tests, smoke runs); any other string or path: one file saved from
            ``LPIPS.state_dict()``.
        device: where the module is placed.
        cache_dir: download folder for ``"pretrained"`` (default: :func:`helpers.download.http_download.default_cache_dir`).
        progress: show download progress bars.
        seed: seed of the ``"random"`` weights (a private generator: the global RNG is left alone).

    Raises:
        ValueError: a file is not a state dict of the expected kind (the message names the file, the missing,
            unexpected or wrongly shaped keys, and which file was expected).
        FileNotFoundError: a local file does not exist.
        helpers.download.http_download.DownloadError: a download failed.
    """
    if isinstance(weights, tuple):
        if len(weights) != 2:
            raise ValueError(f"weights=(vgg_path, lin_path) expects two paths, got {len(weights)}")
        state = {**_load_vgg_file(weights[0]), **_load_lin_file(weights[1])}
    elif weights == "pretrained":
        vgg_path = _download(WEIGHTS["vgg16"], cache_dir, progress)
        lin_path = _download(WEIGHTS["lpips-vgg-v0.1"], cache_dir, progress)
        state = {**_load_vgg_file(vgg_path), **_load_lin_file(lin_path)}
    elif weights == "random":
        state = _random_state(seed)
    elif isinstance(weights, (str, os.PathLike)):
        state = _load_combined_file(weights)
    else:
        raise TypeError(f"weights must be 'pretrained', 'random', a path or (vgg_path, lin_path), got {weights!r}")
    model = LPIPS()
    model.load_state_dict(state, strict=True)  # copies into the frozen parameters, casting to float32
    return model.to(device)

