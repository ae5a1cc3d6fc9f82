"""LPIPS perceptual distance (Zhang et al., CVPR 2018, ``lpips`` v0.1) with a VGG16 or AlexNet trunk, in plain PyTorch.

What it computes. Both images go through a fixed input scaling and the convolutional part of an ImageNet network
(:data:`NETS`: ``"vgg"``, VGG16, taps relu1_2 … relu5_3; ``"alex"``, AlexNet, taps relu1 … relu5). Per tapped layer
``l`` and pixel, the feature vector is scaled to unit length over channels (``f / (||f||_2 + 1e-10)``), the two
images' unit vectors are subtracted and squared channel-wise, a learned non-negative 1×1 convolution without bias
(``w_l``, shape ``(1, C_l, 1, 1)``) weights the channels, and the map is averaged over space::
    d(x, y) = sum_l mean_{h,w} sum_c w_{l,c} (u^l_{hwc}(x) - u^l_{hwc}(y))^2

Units: dimensionless, ``>= 0``, ``0`` for identical images, symmetric. Inputs are RGB ``(N, 3, H, W)`` in ``[-1, 1]``
(``normalize=True``: in ``[0, 1]``), at least ``NETS[net].min_size`` pixels a side (VGG 16, AlexNet 31). It is the
perceptual loss of GAN inversion, so gradients flow to the inputs; the weights are frozen. :class:`LPIPSNets` holds
several networks by name (PTI projects with VGG and tunes with AlexNet).

Weights: :mod:`helpers.invert.lpips_weights` (:func:`~helpers.invert.lpips_weights.load_lpips`: torchvision's ImageNet
trunk file and the LPIPS v0.1 linear layers of the same network, downloaded once, read by the one safe loader).

Design notes: docs/design/invert.md (lpips): the weights' sources, why not NVIDIA's ``vgg16.pt``, what was checked,
and the parity with the ``lpips`` package (``tests/fixtures/lpips_alex_reference``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LPIPS",
    "LPIPS_NETS",
    "NETS",
    "LPIPSNets",
    "NetSpec",
    "TrunkFeatures",
    "downsample_for_lpips",
    "net_spec",
    "select_lpips",
    "unit_normalize",
]

#: lpips v0.1 input scaling, applied as ``(x - shift) / scale`` to RGB in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10


# ------------------------------------------------------------------------------------------- networks
@dataclass(frozen=True)
class NetSpec:
    """One LPIPS trunk: torchvision's ``features`` layers up to the last tapped ReLU.

    Attributes:
        name: ``"vgg"`` or ``"alex"`` (lpips' ``net=`` names).
        title: the network's name in messages.
        layers: in torchvision's order, ``(out_channels, kernel, stride, padding)`` for a convolution (which is
            followed by a ReLU: two entries of ``features``) or ``(kernel, stride)`` for a max-pool (one entry).
        taps: indices in ``features`` of the ReLUs whose outputs LPIPS reads.
        trunk_file, lin_file: keys of :data:`WEIGHTS`.
    """

    name: str
    title: str
    layers: tuple[tuple[int, ...], ...]
    taps: tuple[int, ...]
    trunk_file: str
    lin_file: str

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels of the tapped layers (the LPIPS linear layers' widths)."""
        widths, index = {}, 0
        for layer in self.layers:
            if len(layer) == 4:
                widths[index + 1] = layer[0]
            index += 2 if len(layer) == 4 else 1
        return tuple(widths[t] for t in self.taps)

    @property
    def min_size(self) -> int:
        """Smallest image side the trunk accepts (every layer keeps at least one pixel)."""
        size = 1
        for layer in reversed(self.layers):
            kernel, stride, padding = (layer[1], layer[2], layer[3]) if len(layer) == 4 else (layer[0], layer[1], 0)
            size = max(1, (size - 1) * stride + kernel - 2 * padding)
        return size


def _vgg16_layers() -> tuple[tuple[int, ...], ...]:
    """VGG16 configuration "D" up to relu5_3: 3×3 convolutions (padding 1) and 2×2 max-pools."""
    layers: list[tuple[int, ...]] = []
    for block, (width, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))):
        layers += [(2, 2)] if block else []
        layers += [(width, 3, 1, 1)] * convs
    return tuple(layers)


#: The two LPIPS networks (torchvision indices: VGG16 convs 0, 2, 5, … 28, pools 4, 9, 16, 23; AlexNet convs 0, 3, 6,
#: 8, 10, pools 2, 5; the final pool of each is never run).
NETS: dict[str, NetSpec] = {
    "vgg": NetSpec("vgg", "VGG16", _vgg16_layers(), taps=(3, 8, 15, 22, 29), trunk_file="vgg16",
                   lin_file="lpips-vgg-v0.1"),
    "alex": NetSpec("alex", "AlexNet", ((64, 11, 4, 2), (3, 2), (192, 5, 1, 2), (3, 2), (384, 3, 1, 1),
                                        (256, 3, 1, 1), (256, 3, 1, 1)),
                    taps=(1, 4, 7, 9, 11), trunk_file="alexnet", lin_file="lpips-alex-v0.1"),
}
#: Names of the networks, for settings that choose one.
LPIPS_NETS: tuple[str, ...] = tuple(NETS)


def net_spec(net: str) -> NetSpec:
    """The :class:`NetSpec` of ``net`` (a ValueError naming the choices for an unknown one)."""
    if net not in NETS:
        raise ValueError(f"unknown LPIPS network {net!r}: choose one of {', '.join(LPIPS_NETS)}")
    return NETS[net]


class _FrozenConv2d(nn.Conv2d):
    """A Conv2d whose construction draws no random numbers: parameters start at zero.

    ``nn.Conv2d`` initialises itself from the global RNG; the LPIPS weights are always loaded or filled from a
    private generator afterwards, so touching the caller's RNG state would only make their runs irreproducible.
    """

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class TrunkFeatures(nn.Module):
    """The convolutional part of a :data:`NETS` network up to its last tap, named like torchvision's ``features``.

    ``features`` is a ``Sequential`` whose state-dict keys are those of torchvision's ``vgg16().features`` /
    ``alexnet().features`` (``features.<i>.{weight,bias}``), so the ``features.*`` tensors of the published files
    load by key. Parameters start at zero (see :func:`load_lpips`). Input: ``(N, 3, H, W)`` already scaled as the
    weights expect; output: the tapped ReLU maps (channels ``NETS[net].channels``).
    """

    def __init__(self, net: str = "vgg") -> None:
        super().__init__()
        self.spec = net_spec(net)
        modules: list[nn.Module] = []
        in_channels = 3
        for layer in self.spec.layers:
            if len(layer) == 4:
                out_channels, kernel, stride, padding = layer
                modules += [_FrozenConv2d(in_channels, out_channels, kernel, stride=stride, padding=padding), nn.ReLU()]
                in_channels = out_channels
            else:
                modules.append(nn.MaxPool2d(kernel_size=layer[0], stride=layer[1]))
        self.features = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations of the tapped ReLUs, shallowest first."""
        taps: list[torch.Tensor] = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.spec.taps:
                taps.append(x)
        return taps


def unit_normalize(features: torch.Tensor, eps: float = _EPS) -> torch.Tensor:
    """``features / (||features||_2 over channels + eps)`` for ``(N, C, H, W)`` maps (lpips' ``normalize_tensor``).

    The norm comes from ``torch.linalg.vector_norm``, whose gradient is defined as 0 where a pixel's feature
    vector is all zero (frequent after a ReLU); ``sqrt(sum(x**2))`` would give NaN gradients there.
    """
    return features / (torch.linalg.vector_norm(features, dim=1, keepdim=True) + eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance with one trunk (``net``: ``"vgg"`` or ``"alex"``); the formula is in the module docstring.

    Build it with :func:`load_lpips` (pretrained, local files or seeded random weights); ``LPIPS(net)`` alone has
    all-zero weights. State-dict keys: ``<net>.features.<i>.{weight,bias}`` (the trunk, also reachable as
    :attr:`trunk`) and ``lins.<l>.weight`` (shape ``(1, C_l, 1, 1)``). The module is frozen: parameters have
    ``requires_grad=False`` and it stays in eval mode even when a parent module calls ``.train()`` (lpips' dropout
    before the 1×1 convs is therefore omitted: it is inactive in eval mode).
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, net: str = "vgg") -> None:
        super().__init__()
        self.net = net_spec(net).name
        # Constants, not weights: kept out of the state dict.
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.add_module(net, TrunkFeatures(net))
        self.lins = nn.ModuleList(_FrozenConv2d(c, 1, kernel_size=1, bias=False) for c in NETS[net].channels)
        self.requires_grad_(False)
        self.eval()

    @property
    def trunk(self) -> TrunkFeatures:
        """The network's :class:`TrunkFeatures` (registered under its name, ``vgg`` or ``alex``)."""
        return self.get_submodule(self.net)

    def train(self, mode: bool = True) -> LPIPS:
        """Always eval mode: LPIPS is a fixed metric, never trained here."""
        return super().train(False)

    def features(self, x: torch.Tensor, normalize: bool = False) -> list[torch.Tensor]:
        """Unit-normalised trunk features of ``x`` (5 maps), after lpips' input scaling."""
        if normalize:
            x = 2 * x - 1
        x = (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype)
        return [unit_normalize(f) for f in self.trunk(x)]

    def layer_distances(self, x: torch.Tensor, y: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Per-layer terms ``(N, 5)``; :meth:`forward` is their sum over the last axis.

        Args and shapes as :meth:`forward`.
        """
        _check_pair(x, y, NETS[self.net])
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
                (at least ``NETS[net].min_size``); one of them may have batch 1 and is broadcast.
            normalize: inputs are in ``[0, 1]`` (mapped to ``[-1, 1]`` first).

        Returns:
            ``(N,)`` distances (dimensionless, ``>= 0``), differentiable w.r.t. ``x`` and ``y``.
        """
        return self.layer_distances(x, y, normalize).sum(dim=1)


class LPIPSNets(nn.ModuleDict):
    """Several frozen :class:`LPIPS` modules by network name (``nets["alex"]``); built by :func:`load_lpips_nets`.

    It is what PTI takes when its two stages use different networks (:func:`select_lpips` picks a stage's).
    """

    def __init__(self, modules: Mapping[str, LPIPS]) -> None:
        for name, module in modules.items():
            if not isinstance(module, LPIPS) or module.net != name:
                raise ValueError(f"LPIPSNets[{name!r}] must be an LPIPS module with net={name!r}")
        super().__init__(dict(modules))
        self.eval()

    def train(self, mode: bool = True) -> LPIPSNets:
        """Always eval mode, as each :class:`LPIPS`."""
        return super().train(False)


def select_lpips(lpips: LPIPS | LPIPSNets, net: str, purpose: str = "this stage") -> LPIPS:
    """The :class:`LPIPS` of network ``net`` from ``lpips`` (one module, or :class:`LPIPSNets`).

    Raises a one-line ValueError naming what to pass when ``lpips`` lacks that network (``purpose`` says who
    needs it, e.g. "PTI's tuning stage").
    """
    if isinstance(lpips, LPIPS) and lpips.net == net:
        return lpips
    if isinstance(lpips, LPIPSNets) and net in lpips:
        return lpips[net]
    given = lpips.net if isinstance(lpips, LPIPS) else "+".join(lpips) if isinstance(lpips, LPIPSNets) else None
    if given is None:
        raise TypeError(f"expected an LPIPS or LPIPSNets module, got {type(lpips).__name__}")
    raise ValueError(f"{purpose} uses LPIPS-{net} but only LPIPS-{given} was given: pass "
                     f"load_lpips_nets(weights, nets=config.lpips_nets) (or set that stage's lpips_net to '{given}')")


def _check_pair(x: torch.Tensor, y: torch.Tensor, spec: NetSpec) -> None:
    for name, t in (("x", x), ("y", y)):
        if t.ndim != 4 or t.shape[1] != 3:
            raise ValueError(f"LPIPS: {name} must be RGB images (N, 3, H, W), got shape {tuple(t.shape)}")
    if x.shape[2:] != y.shape[2:]:
        raise ValueError(f"LPIPS: x and y must have the same size, got {tuple(x.shape[2:])} and {tuple(y.shape[2:])}")
    if min(x.shape[2:]) < spec.min_size:
        raise ValueError(f"LPIPS-{spec.name} needs images of at least {spec.min_size}×{spec.min_size} pixels, "
                         f"got {tuple(x.shape[2:])}")
    if x.shape[0] != y.shape[0] and 1 not in (x.shape[0], y.shape[0]):
        raise ValueError(f"LPIPS: batch sizes {x.shape[0]} and {y.shape[0]} differ and neither is 1")


def downsample_for_lpips(x: torch.Tensor, size: int | None = 256) -> torch.Tensor:
    """Area-downsample ``(N, C, H, W)`` images whose larger side exceeds ``size`` so that it becomes ``size``.

    This is what GAN projectors do before the perceptual loss (EG3D/StyleGAN2-ADA: 512² → 256², ``mode="area"``,
    i.e. each output pixel is the mean of the input pixels it covers; an integer ratio averages k×k blocks).
    Non-square images keep their aspect ratio (the smaller side is rounded). Images already within ``size``, or any
    image when ``size`` is None (full resolution), are returned unchanged (the same tensor).
    """
    if x.ndim != 4:
        raise ValueError(f"downsample_for_lpips expects (N, C, H, W) images, got shape {tuple(x.shape)}")
    height, width = x.shape[2:]
    if size is None or max(height, width) <= size:
        return x
    factor = size / max(height, width)
    target = (max(1, round(height * factor)), max(1, round(width * factor)))
    return F.interpolate(x, size=target, mode="area")
