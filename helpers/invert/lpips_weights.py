"""The weights of :class:`helpers.invert.lpips.LPIPS`: the published files, and :func:`load_lpips` /
:func:`load_lpips_nets`, which build frozen networks from them (or from local copies, or random weights for tests).

Weights (:data:`WEIGHTS`, fetched through :func:`helpers.download.http_download.download`, cached): torchvision's
ImageNet trunk file (only ``features.*`` is used) and the LPIPS v0.1 linear layers of the same network, plain state
dicts read by :func:`helpers.base.weights_file.read_tensors` (the one safe loader) and checked key by key, shape by
shape; a file given in the wrong place is named for what it looks like.

Design notes: docs/design/invert.md (lpips).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch

from helpers.base.weights_file import read_tensors
from helpers.download.http_download import default_cache_dir, download
from helpers.invert.lpips import LPIPS, LPIPS_NETS, NETS, LPIPSNets, NetSpec, net_spec

__all__ = ["WEIGHTS", "WeightFile", "load_lpips", "load_lpips_nets"]

PathLike = Union[str, "os.PathLike[str]"]
#: What :func:`load_lpips` accepts as ``weights``.
Weights = Union[str, "os.PathLike[str]", tuple[PathLike, PathLike]]


# --------------------------------------------------------------------------------------- weight files
@dataclass(frozen=True)
class WeightFile:
    """A published weight file.

    Attributes:
        name: registry key.
        url: download URL.
        filename: file name in the cache (the LPIPS files are called ``vgg.pth`` / ``alex.pth`` upstream: too
            generic for a shared cache, so they are stored under longer names).
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


def _torchvision_file(name: str, filename: str, title: str, sha256: str, size: int, licence: str) -> WeightFile:
    return WeightFile(name=name, url=f"https://download.pytorch.org/models/{filename}", filename=filename,
                      sha256=sha256, size=size,
                      description=f"torchvision's ImageNet {title} state dict (features.* and classifier.*)",
                      licence=licence)


def _lpips_lin_file(net: str, title: str, sha256: str, size: int) -> WeightFile:
    return WeightFile(name=f"lpips-{net}-v0.1",
                      url=f"https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/{net}.pth",
                      filename=f"lpips-v0.1-{net}.pth", sha256=sha256, size=size,
                      description=f"LPIPS v0.1 linear layers for {title} (lin0.model.1.weight ... lin4.model.1.weight)",
                      licence="BSD-2-Clause (richzhang/PerceptualSimilarity)")


#: The files :func:`load_lpips` downloads for ``weights="pretrained"``: a trunk and a linear-layer file per network.
WEIGHTS: dict[str, WeightFile] = {
    "vgg16": _torchvision_file(
        "vgg16", "vgg16-397923af.pth", "VGG16", "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        553_433_881, "torchvision (BSD-3-Clause); VGG16 weights of Simonyan & Zisserman (Oxford VGG, CC BY 4.0)"),
    "lpips-vgg-v0.1": _lpips_lin_file(
        "vgg", "VGG16", "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", 7_289),
    "alexnet": _torchvision_file(
        "alexnet", "alexnet-owt-7be5be79.pth", "AlexNet",
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", 244_408_911, "torchvision (BSD-3-Clause)"),
    "lpips-alex-v0.1": _lpips_lin_file(
        "alex", "AlexNet", "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", 6_009),
}



# -------------------------------------------------------------------------------------------- loading
def _shapes(net: str) -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes of ``LPIPS(net)``, built on the meta device (no memory, no RNG)."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in LPIPS(net).state_dict().items()}


def _trunk_file_shapes(net: str) -> dict[str, tuple[int, ...]]:
    """Expected ``features.*`` keys and shapes of torchvision's state dict of ``net``."""
    prefix = f"{net}."
    return {k[len(prefix):]: v for k, v in _shapes(net).items() if k.startswith(prefix)}


def _lin_file_shapes(net: str) -> dict[str, tuple[int, ...]]:
    """Expected keys and shapes of the lpips v0.1 linear-layer file of ``net``."""
    return {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate(NETS[net].channels)}


def _trunk_label(spec: NetSpec) -> str:
    name = WEIGHTS[spec.trunk_file].filename
    return f"torchvision's ImageNet {spec.title} state dict ({name}: features.<i>.weight/bias)"


def _lin_label(spec: NetSpec) -> str:
    return (f"the LPIPS v0.1 {spec.title} linear-layer file (lpips/weights/v0.1/{spec.name}.pth: "
            "lin0.model.1.weight ...)")


def _identify(state: Mapping[str, torch.Tensor]) -> str:
    """What a state dict looks like, as a hint for a file given in the wrong place ("" when unknown)."""
    shapes = {k: tuple(v.shape) for k, v in state.items() if not k.startswith("classifier.")}
    for net, spec in NETS.items():
        if shapes == _trunk_file_shapes(net):
            return f"it looks like {_trunk_label(spec)}: pass (trunk_path, lin_path) with net='{net}'"
        if shapes == _lin_file_shapes(net):
            return f"it looks like {_lin_label(spec)}: pass (trunk_path, lin_path) with net='{net}'"
        if shapes == _shapes(net):
            return f"it looks like a state dict saved from LPIPS(net='{net}'): pass it alone with net='{net}'"
    return ""


def _read_state_dict(path: PathLike, expected: str) -> dict[str, torch.Tensor]:
    """Tensors of a ``torch.save``-d state dict, read by the one safe loader (no code from the file runs; on the CPU:
    lpips' linear-layer files were saved from CUDA tensors)."""
    return read_tensors(path, what="LPIPS weight file", expected=expected)


def _check_keys(state: Mapping[str, torch.Tensor], shapes: Mapping[str, tuple[int, ...]], path: PathLike,
                expected: str) -> None:
    """Raise a ValueError naming every missing, unexpected or wrongly shaped key (and what the file looks like)."""
    missing = sorted(set(shapes) - set(state))
    unexpected = sorted(set(state) - set(shapes))
    wrong = [f"{k} {tuple(state[k].shape)} instead of {shapes[k]}" for k in shapes
             if k in state and tuple(state[k].shape) != shapes[k]]
    problems = [f"{label}: {', '.join(items)}" for label, items in
                (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)) if items]
    if problems:
        hint = _identify(state)
        raise ValueError(f"{path} is not {expected}: " + "; ".join(problems) + (f" ({hint})" if hint else ""))


def _load_trunk_file(path: PathLike, net: str) -> dict[str, torch.Tensor]:
    expected = _trunk_label(NETS[net])
    state = _read_state_dict(path, expected)
    features = {k: v for k, v in state.items() if not k.startswith("classifier.")}  # the classifier is unused
    _check_keys(features, _trunk_file_shapes(net), path, expected)
    return {f"{net}.{k}": v for k, v in features.items()}


def _load_lin_file(path: PathLike, net: str) -> dict[str, torch.Tensor]:
    expected = _lin_label(NETS[net])
    state = _read_state_dict(path, expected)
    _check_keys(state, _lin_file_shapes(net), path, expected)
    return {f"lins.{i}.weight": state[f"lin{i}.model.1.weight"] for i in range(len(NETS[net].channels))}


def _load_combined_file(path: PathLike, net: str) -> dict[str, torch.Tensor]:
    expected = f"a state dict saved from helpers.invert.lpips.LPIPS(net='{net}') ({net}.features.* and lins.*)"
    state = _read_state_dict(path, expected)
    _check_keys(state, _shapes(net), path, expected)
    return state


def _random_state(net: str, seed: int) -> dict[str, torch.Tensor]:
    """Deterministic random weights from a private generator (the global RNG is not touched).

    Trunk convs: Kaiming normal (fan_out, ReLU gain: std = sqrt(2 / (C_out·k²))), zero biases, as torchvision
    initialises VGG. Linear layers: uniform in [0, 0.2) (LPIPS weights are non-negative).
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in _shapes(net).items():
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
    weights: Weights = "pretrained",
    *,
    net: str = "vgg",
    device: str | torch.device = "cpu",
    cache_dir: PathLike | None = None,
    progress: bool = True,
    seed: int = 0,
) -> LPIPS:
    """Build a frozen :class:`LPIPS` module of network ``net`` (``"vgg"`` or ``"alex"``).

    Args:
        weights: ``"pretrained"``: download (or reuse from the cache) the network's two files of :data:`WEIGHTS`;
            ``(trunk_path, lin_path)``: local copies of those two files (torchvision's ``vgg16-397923af.pth`` or
            ``alexnet-owt-7be5be79.pth``, whose ``classifier.*`` keys are ignored, and lpips' ``v0.1/vgg.pth`` or
            ``v0.1/alex.pth``); ``"random"``: deterministic random weights from ``seed`` (tests, smoke runs); any
            other string or path: one file saved from ``LPIPS(net).state_dict()``.
        net: the trunk, a key of :data:`NETS`.
        device: where the module is placed.
        cache_dir: download folder for ``"pretrained"`` (default: :func:`helpers.download.http_download.default_cache_dir`).
        progress: show download progress bars.
        seed: seed of the ``"random"`` weights (a private generator: the global RNG is left alone).

    Raises:
        ValueError: an unknown ``net``, or a file that is not a state dict of the expected kind (the message names
            the file, the missing, unexpected or wrongly shaped keys, and what the file looks like).
        FileNotFoundError: a local file does not exist.
        helpers.download.http_download.DownloadError: a download failed.
    """
    spec = net_spec(net)
    if isinstance(weights, tuple):
        if len(weights) != 2:
            raise ValueError(f"weights=(trunk_path, lin_path) expects two paths, got {len(weights)}")
        state = {**_load_trunk_file(weights[0], net), **_load_lin_file(weights[1], net)}
    elif weights == "pretrained":
        trunk_path = _download(WEIGHTS[spec.trunk_file], cache_dir, progress)
        lin_path = _download(WEIGHTS[spec.lin_file], cache_dir, progress)
        state = {**_load_trunk_file(trunk_path, net), **_load_lin_file(lin_path, net)}
    elif weights == "random":
        state = _random_state(net, seed)
    elif isinstance(weights, (str, os.PathLike)):
        state = _load_combined_file(weights, net)
    else:
        raise TypeError(f"weights must be 'pretrained', 'random', a path or (trunk_path, lin_path), got {weights!r}")
    model = LPIPS(net)
    model.load_state_dict(state, strict=True)  # copies into the frozen parameters, casting to float32
    return model.to(device)


def load_lpips_nets(
    weights: Weights | Mapping[str, Weights] = "pretrained",
    nets: Iterable[str] = LPIPS_NETS,
    *,
    device: str | torch.device = "cpu",
    cache_dir: PathLike | None = None,
    progress: bool = True,
    seed: int = 0,
) -> LPIPSNets:
    """:func:`load_lpips` for each of ``nets`` (default: all of :data:`LPIPS_NETS`), as one :class:`LPIPSNets`.

    ``weights`` applies to every network (``"pretrained"``, ``"random"``), or maps a network's name to its own
    weights (e.g. ``{"vgg": (vgg_path, lin_path), "alex": (alex_path, lin_path)}``). PTI needs the networks of
    ``PTIConfig.lpips_nets``.
    """
    modules = {}
    for net in dict.fromkeys(nets):
        if isinstance(weights, Mapping):
            if net not in weights:
                raise ValueError(f"no weights given for LPIPS-{net}: add a {net!r} entry to the weights mapping")
            chosen = weights[net]
        else:
            chosen = weights
        modules[net] = load_lpips(chosen, net=net, device=device, cache_dir=cache_dir, progress=progress, seed=seed)
    return LPIPSNets(modules)
