"""The original project's published latent-code regressors by name: download once, verify, cache, load key for key.

:data:`PUBLISHED_REGRESSORS` names ``"published-code-regressor-vit"`` (``VIT_b5_e20_weights_ckp_15.pt``) and
``"published-code-regressor-unet"`` (the UNET-modified), with the links of cantonioupao/eg3d-code-regressor's
``models/README.md`` (no size or checksum is published: the first download's sha256 is recorded by
:func:`helpers.download.http_download.download` and checked on every later use). :func:`load_published_regressor`
takes a name or an original ``.pt`` file (the architecture read from its keys) and returns a
:class:`PublishedCodeRegressor`, which fits the encoder contract of :mod:`helpers.latent.infer`:
``predict(images)`` on ``(N, 3, H, W)`` uint8 or [0, 1] gives ws ``(N, 14, 512)``, float32, preprocessed as the
original was (ViT: 384², bilinear as PIL resizes, bit-exact for uint8; U-Net: 512², bicubic as OpenCV's
``INTER_CUBIC``; both then ``(x − 0.5) / 0.5``); ``ws(w)`` passes them through. They go to EG3D's synthesis
network as all 14 ws (W+), with no mapping and no truncation: the training targets were the mapping's output
after ψ = 0.7 truncation (docs/latent.md). Errors about files are one line and name missing / unexpected keys.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from helpers.depth.networks.original_weights import (
    IncompatibleCheckpointError,
    PublishedWeights,
    download_weights,
    mismatch_summary,
    read_original_state_dict,
)
from helpers.depth.networks.predict import prepare_images
from helpers.latent.code_regressor_unet import CodeRegressorUNet
from helpers.latent.code_regressor_vit import PretrainedViTB16, VitPytorchViT, vit_variant

__all__ = ["PUBLISHED_REGRESSORS", "PublishedCodeRegressor", "PublishedRegressor", "download_published_regressor",
           "load_published_regressor", "regressor_from_state_dict"]

_LABELS = {"vit-pytorch": "ViT (vit_pytorch)", "pytorch-pretrained-vit": "ViT-B/16 (pytorch_pretrained_vit)",
           "unet": "UNET-modified"}


@dataclass(frozen=True)
class PublishedRegressor:
    """One published regressor: its file and what it expects (its :attr:`PublishedCodeRegressor.config`).

    Attributes:
        name: registry name. architecture: ``"vit"`` or ``"unet"``.
        weights: the file (name, links; no size or checksum is published), downloaded by
            :func:`helpers.depth.networks.original_weights.download_weights`.
        input_size: square input side; resize: ``"bilinear"`` (PIL-like, antialiased) or ``"bicubic"`` (OpenCV-like).
        num_ws, w_dim: the predicted ws' shape.
    """

    name: str
    architecture: Literal["vit", "unet"]
    weights: PublishedWeights
    input_size: int
    resize: Literal["bilinear", "bicubic"]
    num_ws: int = 14
    w_dim: int = 512

    @property
    def wplus(self) -> bool:
        """The regressors predict per-layer ws (W+)."""
        return True


def _drive_only(filename: str, gdrive_id: str) -> PublishedWeights:
    """A file on Google Drive only (``dropbox_url``, the page to download it from by hand, is Drive's)."""
    page = PublishedWeights(filename, gdrive_id, f"https://drive.google.com/file/d/{gdrive_id}/view",
                            cache_folder="latent")
    return dataclasses.replace(page, urls=(page.gdrive_url,))


#: The two published regressors (links: cantonioupao/eg3d-code-regressor ``models/README.md``, 2023-07; the
#: U-Net's Drive file is published without a name, so its cache name is ours).
PUBLISHED_REGRESSORS: dict[str, PublishedRegressor] = {
    "published-code-regressor-vit": PublishedRegressor(
        name="published-code-regressor-vit", architecture="vit", input_size=384, resize="bilinear",
        weights=PublishedWeights(
            filename="VIT_b5_e20_weights_ckp_15.pt", gdrive_id="1-gD574P5V0lLuzv14Ws-wDiUdwa4cKpG",
            dropbox_url=("https://www.dropbox.com/scl/fi/gi774iida1bkmrv8ub945/VIT_b5_e20_weights_ckp_15.pt"
                         "?rlkey=pdvct2nsoc2j20wsonsoeol98&dl=0"), cache_folder="latent")),
    "published-code-regressor-unet": PublishedRegressor(
        name="published-code-regressor-unet", architecture="unet", input_size=512, resize="bicubic",
        weights=_drive_only("UNET_modified_code_regressor.pt", "11501Pg-9V4mk0mg9sw0YVcZNgAVG-NJr")),
}


def _resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == (size, size):
        return x
    if mode == "bilinear":  # antialiased when shrinking, like PIL's BILINEAR
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)  # = cv2.INTER_CUBIC


class PublishedCodeRegressor(nn.Module):
    """An original regressor network (``network``, original key names) behind the encoder contract (module
    docstring). ``config`` says what it expects; ``variant`` is ``"vit-pytorch"``, ``"pytorch-pretrained-vit"``
    or ``"unet"``."""

    def __init__(self, config: PublishedRegressor, network: nn.Module, variant: str) -> None:
        super().__init__()
        self.config, self.network, self.variant = config, network, variant

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] → the network's input, as the original's ``Normalize(0.5, 0.5)``."""
        return (images - 0.5) / 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(N, 3, S, S)`` (resized to ``input_size`` if needed) → ws ``(N, num_ws, w_dim)``, float32."""
        c = self.config
        out = self.network(_resize(x, c.input_size, c.resize)).float()
        if c.architecture == "unet":
            if tuple(out.shape[1:]) != (c.w_dim, c.num_ws, 1):
                raise ValueError(f"the UNET-modified gave {tuple(out.shape)}, expected (N, {c.w_dim}, {c.num_ws}, 1)")
            return out[..., 0].transpose(1, 2)
        return out.reshape(out.shape[0], c.num_ws, c.w_dim)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` uint8 or [0, 1] → normalised input at ``input_size`` on the network's device."""
        size = self.config.input_size
        if (self.config.resize == "bilinear" and isinstance(images, torch.Tensor) and images.dtype == torch.uint8
                and images.ndim == 4 and images.shape[1] == 3 and tuple(images.shape[-2:]) != (size, size)):
            # uint8 in, uint8 out: the same rounding as PIL's resize (the original resized PIL images)
            images = F.interpolate(images.cpu(), size=(size, size), mode="bilinear", align_corners=False,
                                   antialias=True)
        x = prepare_images(images, 3, next(self.network.parameters()))
        return self.normalize(_resize(x, size, self.config.resize))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """ws ``(N, num_ws, w_dim)`` for images ``(N, 3, H, W)`` in [0, 1] or uint8; eval mode, no grad."""
        x = self.preprocess(images)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                return self(x)
        finally:
            self.train(was_training)

    def ws(self, w: torch.Tensor) -> torch.Tensor:
        """ws for the generator: predictions are already ``(N, num_ws, w_dim)``; a single w is repeated."""
        return w if w.ndim == 3 else w[:, None, :].expand(-1, self.config.num_ws, -1)


# ------------------------------------------------------------------------------------------------ loading
def _variant(state: Mapping[str, object]) -> str | None:
    return vit_variant(state) or ("unet" if "conv1.weight" in state and "co3.weight" in state else None)


def _count(state: Mapping[str, object], prefix: str) -> int:
    return len({key[len(prefix):].split(".")[0] for key in state if key.startswith(prefix)})


def _network(variant: str, state: Mapping[str, torch.Tensor]) -> tuple[nn.Module, int, int]:
    """(network on the meta device, input size, output channels) with the sizes ``state``'s shapes give (heads:
    one per 64 channels, the defaults of both ViT libraries; the published ViTs have 16 and 12)."""
    shape = {key: tuple(value.shape) for key, value in state.items()}
    with torch.device("meta"):  # shapes only; the checkpoint's tensors replace them
        if variant == "unet":
            width = shape["conv1.weight"][0]
            return CodeRegressorUNet(width), CodeRegressorUNet.input_size, 8 * width
        if variant == "vit-pytorch":
            dim, patch_dim = shape["to_patch_embedding.1.weight"]
            patch = round((patch_dim / 3) ** 0.5)
            size = round((shape["pos_embedding"][1] - 1) ** 0.5) * patch
            outputs = shape["mlp_head.1.weight"][0]
            net: nn.Module = VitPytorchViT(
                image_size=size, patch_size=patch, num_classes=outputs, dim=dim,
                depth=_count(state, "transformer.layers."), heads=shape["transformer.layers.0.0.fn.to_qkv.weight"][0]
                // (3 * 64), mlp_dim=shape["transformer.layers.0.1.fn.net.0.weight"][0])
            return net, size, outputs
        dim, _, patch, _ = shape["patch_embedding.weight"]
        size = round((shape["positional_embedding.pos_embedding"][1] - 1) ** 0.5) * patch
        outputs = shape["fc.weight"][0]
        net = PretrainedViTB16(image_size=size, patch_size=patch, num_classes=outputs, dim=dim,
                               ff_dim=shape["transformer.blocks.0.pwff.fc1.weight"][0], num_heads=max(dim // 64, 1),
                               num_layers=_count(state, "transformer.blocks."))
        return net, size, outputs


def regressor_from_state_dict(state: Mapping[str, torch.Tensor], *, config: PublishedRegressor | None = None,
                              source: str = "the state dict") -> PublishedCodeRegressor:
    """A :class:`PublishedCodeRegressor` holding ``state`` (original key names, float32), on the CPU in eval mode.

    The architecture comes from the keys; ``config`` (default: the published one of that architecture) must agree.

    Raises:
        IncompatibleCheckpointError: (one line) not a regressor state dict, the other architecture than ``config``,
            or missing / unexpected keys and wrong shapes, named.
    """
    variant = _variant(state)
    if variant is None:
        found = ", ".join(list(state)[:4]) + (", ..." if len(state) > 4 else "")
        raise IncompatibleCheckpointError(
            f"{source} is not a checkpoint of the original latent-code regressor: expected keys such as "
            f"'to_patch_embedding.1.weight' (ViT) or 'co3.weight' (UNET-modified), found {found}")
    architecture = "unet" if variant == "unet" else "vit"
    if config is None:
        config = PUBLISHED_REGRESSORS[f"published-code-regressor-{architecture}"]
    elif config.architecture != architecture:
        raise IncompatibleCheckpointError(f"{source} holds the {_LABELS[variant]}, not the {config.architecture} of "
                                          f"{config.name}: is it the other model's file?")
    try:
        network, size, outputs = _network(variant, state)
    except KeyError as exc:
        raise IncompatibleCheckpointError(f"{source} does not fit the original {_LABELS[variant]}: missing key "
                                          f"{exc}") from None
    except (ValueError, ZeroDivisionError) as exc:
        raise IncompatibleCheckpointError(f"{source} does not fit the original {_LABELS[variant]}: unexpected "
                                          f"shapes ({exc})") from None
    problems = mismatch_summary({name: t.shape for name, t in network.state_dict().items()}, state)
    if problems:
        raise IncompatibleCheckpointError(f"{source} does not fit the original {_LABELS[variant]}: {problems}")
    w_dim = outputs if variant == "unet" else outputs // config.num_ws
    if variant != "unet" and outputs % config.num_ws:
        raise IncompatibleCheckpointError(f"{source}: the ViT predicts {outputs} values, not {config.num_ws} ws")
    config = dataclasses.replace(config, input_size=size, w_dim=w_dim)
    network.load_state_dict(dict(state), strict=True, assign=True)
    return PublishedCodeRegressor(config, network, variant).eval()


def download_published_regressor(name: str, cache_dir: str | os.PathLike[str] | None = None, *,
                                 progress: bool = True) -> Path:
    """The local file of a published regressor, downloaded on first use
    (:func:`helpers.depth.networks.original_weights.download_weights`: its links in order, resumable, HTML pages
    refused, checked to be a PyTorch zip archive, the first download's sha256 recorded and checked later).

    Raises:
        ValueError: unknown name. helpers.download.http_download.DownloadError: no link gave the file.
    """
    return download_weights(_spec(name).weights, cache_dir, progress=progress)


def load_published_regressor(source: str | os.PathLike[str], *, device: torch.device | str = "cpu",
                             cache_dir: str | os.PathLike[str] | None = None) -> PublishedCodeRegressor:
    """A published regressor by name (:data:`PUBLISHED_REGRESSORS`; downloaded once) or from an original ``.pt``
    state dict, in eval mode on ``device``."""
    if isinstance(source, str) and source in PUBLISHED_REGRESSORS:
        path, config = download_published_regressor(source, cache_dir), PUBLISHED_REGRESSORS[source]
    else:
        path, config = Path(source).expanduser(), None
    state = read_original_state_dict(path, what="latent-code regressor",
                                     expected="an original latent-code regressor's .pt state dict (ViT or UNET-modified)")
    return regressor_from_state_dict(state, config=config, source=str(path)).to(device)


def _spec(name: str) -> PublishedRegressor:
    if name not in PUBLISHED_REGRESSORS:
        raise ValueError(f"unknown published regressor {name!r}; known: {', '.join(PUBLISHED_REGRESSORS)}")
    return PUBLISHED_REGRESSORS[name]

