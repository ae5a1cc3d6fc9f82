"""MiDaS ``DPTDepthModel`` checkpoints (ViT backbones) as :class:`~helpers.depth.networks.dpt.TransformerDepthModel`.

* :func:`midas_architecture`: the backbone of a MiDaS state dict, read from its key names and shapes
  (``vitl16_384``, ``vitb16_384`` or a smaller ViT of the same design) -> :class:`MidasArchitecture`;
* :func:`midas_state_shapes`: the MiDaS names and shapes of an architecture; :func:`convert_midas_state_dict`:
  MiDaS names -> ``transformers`` ``DPTForDepthEstimation`` names, key for key (``attn.qkv`` splits into query,
  key and value; the ImageNet classifier ``pretrained.model.head.*``, which MiDaS never runs, is dropped);
* :func:`load_midas_dpt`: a file or state dict -> the model in eval mode, computing what MiDaS computes (LayerNorm
  eps 1e-6 as timm's ViT; position embeddings resized bilinearly at run time, the same numbers as MiDaS's
  ``_resize_pos_embed``); MiDaS ``non_negative=False`` (the original project) is ``output="depth"``, ``True``
  (MiDaS's releases) ``output="relative_inverse"``. Input: RGB normalised with mean = std = 0.5, side a multiple
  of 32; output ``(N, 1, H, W)`` (MiDaS returns ``(N, H, W)``);
* :data:`PUBLISHED_MIDAS_DPT`: the original project's fine-tuned DPT-Large (``vitl16_384``, 128² input, regressing
  the per-image [-1, 1] depth with 1 = nearest).

Errors are one-line :class:`~helpers.depth.networks.original_weights.IncompatibleCheckpointError` messages.
Design notes: docs/design/depth.md (midas_dpt): the key map, MiDaS against transformers, the parity fixture.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from helpers.depth.networks.dpt import TransformerDepthModel
from helpers.depth.networks.dpt_config import OutputKind, TransformerDepthConfig
from helpers.depth.networks.original_weights import (
    IncompatibleCheckpointError,
    PublishedWeights,
    mismatch_summary,
    read_original_state_dict,
)

__all__ = [
    "MIDAS_VIT_BACKBONES",
    "PUBLISHED_MIDAS_DPT",
    "MidasArchitecture",
    "convert_midas_state_dict",
    "load_midas_dpt",
    "midas_architecture",
    "midas_state_shapes",
]

_VIT = "pretrained.model."
#: Keys MiDaS state dicts carry but never use (timm's ImageNet classifier); dropped by the conversion.
_UNUSED = (_VIT + "head.weight", _VIT + "head.bias")
_BLOCK_KEY = re.compile(r"^pretrained\.model\.blocks\.(\d+)\.")
#: timm's ViT-B/16 and ViT-L/16 use 64 channels per attention head.
_HEAD_DIM = 64


@dataclass(frozen=True)
class MidasArchitecture:
    """A MiDaS DPT with a ViT backbone (``readout="project"``, MiDaS's DPT default).

    Attributes:
        backbone: the MiDaS backbone name (``"vitl16_384"``, ``"vitb16_384"``) or ``"vit"`` for other sizes.
        hidden_size, depth, num_heads, mlp_size: the ViT (width, blocks, attention heads, MLP width).
        image_size: native input side, from the position-embedding grid (``patch_size`` × grid side).
        features: channels of the four reassembled feature maps (``act_postprocess{1..4}``).
        fusion_size: channels of the fusion blocks (MiDaS ``features``, 256).
        hooks: the ViT blocks whose outputs feed the four maps.
        patch_size: pixels per token side (16).
    """

    backbone: str
    hidden_size: int
    depth: int
    num_heads: int
    mlp_size: int
    image_size: int
    features: tuple[int, int, int, int]
    fusion_size: int
    hooks: tuple[int, int, int, int]
    patch_size: int = 16

    def hf_config(self) -> dict[str, Any]:
        """The ``transformers`` ``DPTConfig`` fields of this network (``model_type`` ``"dpt"``), e.g. for
        :class:`~helpers.depth.networks.dpt.TransformerDepthModel`'s ``architecture``."""
        return {
            "model_type": "dpt", "hidden_size": self.hidden_size, "num_hidden_layers": self.depth,
            "num_attention_heads": self.num_heads, "intermediate_size": self.mlp_size, "hidden_act": "gelu",
            "layer_norm_eps": 1e-6,  # timm's ViT (transformers' DPT default is 1e-12)
            "qkv_bias": True, "image_size": self.image_size, "patch_size": self.patch_size, "num_channels": 3,
            "is_hybrid": False, "backbone_out_indices": list(self.hooks), "readout_type": "project",
            "reassemble_factors": [4, 2, 1, 0.5], "neck_hidden_sizes": list(self.features),
            "fusion_hidden_size": self.fusion_size, "head_in_index": -1,
            "use_batch_norm_in_fusion_residual": False, "use_bias_in_fusion_residual": True,
            "add_projection": False, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        }


#: The ViT backbones of MiDaS's ``DPTDepthModel`` (``midas/vit.py``, ``midas/blocks.py``), at their defaults.
MIDAS_VIT_BACKBONES: dict[str, MidasArchitecture] = {
    "vitl16_384": MidasArchitecture("vitl16_384", 1024, 24, 16, 4096, 384, (256, 512, 1024, 1024), 256,
                                    (5, 11, 17, 23)),
    "vitb16_384": MidasArchitecture("vitb16_384", 768, 12, 12, 3072, 384, (96, 192, 384, 768), 256, (2, 5, 8, 11)),
}

#: The original project's MiDaS DPT (github.com/cantonioupao/face-depth-3D-reconstruction ``models/README.md``):
#: ``DPTDepthModel(backbone="vitl16_384", non_negative=False)`` fine-tuned from MiDaS v3 DPT-Large on 47,900 EG3D
#: faces at 128x128 (batch 1, 10 epochs, checkpoint 9). No size or checksum is published.
PUBLISHED_MIDAS_DPT = PublishedWeights(
    filename="Midas_DPT_b1_e10ckp9_weights.pt",
    gdrive_id="10P460-33WqUqr3iqU6GZ1bnSqkBc5cz7",
    dropbox_url=(
        "https://www.dropbox.com/scl/fi/amfdxh17q7wf2ifvemdqm/Midas_DPT_b1_e10ckp9_weights.pt"
        "?rlkey=01mf0j3c9rsx1i5oiae3o5a8l&dl=0"
    ),
)


# ------------------------------------------------------------------------------ architecture
def midas_architecture(state: Mapping[str, Any]) -> MidasArchitecture:
    """The :class:`MidasArchitecture` of a MiDaS ``DPTDepthModel`` state dict, checked key for key.

    Widths, depth, grid and feature sizes come from the shapes. Heads and hooks are not stored in weights: a
    state dict of a :data:`MIDAS_VIT_BACKBONES` size gets that backbone's; another size gets 64 channels per
    head and evenly spaced hooks (blocks ``d/4 - 1, d/2 - 1, 3d/4 - 1, d - 1``), the rule both MiDaS ViTs follow.

    Raises:
        IncompatibleCheckpointError: not a MiDaS DPT with a ViT backbone (another model, DPT-Hybrid, a readout
            other than ``"project"``), or keys / shapes that do not fit the architecture read from it.
    """
    needed = (_VIT + "cls_token", _VIT + "pos_embed", _VIT + "patch_embed.proj.weight", "scratch.layer1_rn.weight",
              "scratch.output_conv.4.weight")
    if not all(name in state for name in needed):
        found = ", ".join(list(state)[:4]) + (", ..." if len(state) > 4 else "")
        hint = (" It is an Attention U-Net state dict: load it with AttentionUNet.load_original_weights or the name "
                "'published-unet'" if "conv_final.weight" in state else "")
        raise IncompatibleCheckpointError(
            f"not a MiDaS DPT state dict: expected keys such as {needed[1]!r} and {needed[3]!r}, found {found}.{hint}"
        )
    if any(name.startswith(_VIT + "patch_embed.backbone.") for name in state):
        raise IncompatibleCheckpointError(
            "this MiDaS DPT has a ResNet-hybrid backbone (vitb_rn50_384, DPT-Hybrid), which is not supported: only "
            "the ViT backbones vitl16_384 and vitb16_384 convert"
        )
    if "pretrained.act_postprocess1.0.project.0.weight" not in state:
        raise IncompatibleCheckpointError(
            "this MiDaS DPT has no readout projection (readout 'ignore' or 'add'): only readout='project', the DPT "
            "default, converts"
        )
    hidden = int(state[_VIT + "cls_token"].shape[-1])
    patch = tuple(state[_VIT + "patch_embed.proj.weight"].shape[-2:])
    tokens = int(state[_VIT + "pos_embed"].shape[1]) - 1
    grid = round(tokens**0.5)
    depth = len({int(m.group(1)) for name in state if (m := _BLOCK_KEY.match(name))})
    if patch != (16, 16) or grid * grid != tokens or depth == 0:
        raise IncompatibleCheckpointError(
            f"unexpected MiDaS ViT: patch {patch} (expected 16x16), {tokens} position tokens (expected a square "
            f"grid), {depth} blocks"
        )
    fc1 = state.get(_VIT + "blocks.0.mlp.fc1.weight")
    features = tuple(int(state[f"pretrained.act_postprocess{i}.3.weight"].shape[0])
                     if f"pretrained.act_postprocess{i}.3.weight" in state else 0 for i in (1, 2, 3, 4))
    sizes = {"hidden_size": hidden, "depth": depth, "mlp_size": int(fc1.shape[0]) if fc1 is not None else 4 * hidden,
             "image_size": grid * 16, "features": features,
             "fusion_size": int(state["scratch.layer1_rn.weight"].shape[0])}
    known = [arch for arch in MIDAS_VIT_BACKBONES.values()
             if all(getattr(arch, field) == value for field, value in sizes.items())]
    if known:
        architecture = known[0]
    else:
        if hidden % _HEAD_DIM or depth % 4:
            raise IncompatibleCheckpointError(
                f"a MiDaS ViT of width {hidden} and {depth} blocks is neither vitl16_384 nor vitb16_384, and its "
                f"heads and hooks cannot be inferred (width a multiple of {_HEAD_DIM} and blocks of 4 are needed)"
            )
        quarter = depth // 4
        hooks = (quarter - 1, 2 * quarter - 1, 3 * quarter - 1, depth - 1)
        architecture = MidasArchitecture("vit", num_heads=hidden // _HEAD_DIM, hooks=hooks, **sizes)
    problems = mismatch_summary(midas_state_shapes(architecture),
                                {name: t for name, t in state.items() if name not in _UNUSED})
    if problems:
        raise IncompatibleCheckpointError(f"the MiDaS state dict does not fit {architecture.backbone}: {problems}")
    return architecture


def midas_state_shapes(architecture: MidasArchitecture) -> dict[str, tuple[int, ...]]:
    """MiDaS's state-dict names and shapes of ``architecture``, in MiDaS's order, without the unused classifier
    ``pretrained.model.head.*`` (which MiDaS's checkpoints also hold)."""
    h, m, f = architecture.hidden_size, architecture.mlp_size, architecture.fusion_size
    grid = architecture.image_size // architecture.patch_size
    shapes: dict[str, tuple[int, ...]] = {
        _VIT + "cls_token": (1, 1, h), _VIT + "pos_embed": (1, grid * grid + 1, h),
        _VIT + "patch_embed.proj.weight": (h, 3, architecture.patch_size, architecture.patch_size),
        _VIT + "patch_embed.proj.bias": (h,),
    }
    for i in range(architecture.depth):
        block = f"{_VIT}blocks.{i}."
        shapes.update({
            block + "norm1.weight": (h,), block + "norm1.bias": (h,),
            block + "attn.qkv.weight": (3 * h, h), block + "attn.qkv.bias": (3 * h,),
            block + "attn.proj.weight": (h, h), block + "attn.proj.bias": (h,),
            block + "norm2.weight": (h,), block + "norm2.bias": (h,),
            block + "mlp.fc1.weight": (m, h), block + "mlp.fc1.bias": (m,),
            block + "mlp.fc2.weight": (h, m), block + "mlp.fc2.bias": (h,),
        })
    shapes.update({_VIT + "norm.weight": (h,), _VIT + "norm.bias": (h,)})
    resize_kernels = {1: 4, 2: 2, 4: 3}  # ConvTranspose 4x4 / 2x2 (up-sampling), Conv 3x3 stride 2 (down-sampling)
    for i, channels in enumerate(architecture.features, 1):
        post = f"pretrained.act_postprocess{i}."
        shapes.update({post + "0.project.0.weight": (h, 2 * h), post + "0.project.0.bias": (h,),
                       post + "3.weight": (channels, h, 1, 1), post + "3.bias": (channels,)})
        if i in resize_kernels:
            k = resize_kernels[i]
            shapes.update({post + "4.weight": (channels, channels, k, k), post + "4.bias": (channels,)})
    for i, channels in enumerate(architecture.features, 1):
        shapes[f"scratch.layer{i}_rn.weight"] = (f, channels, 3, 3)
    for i in (1, 2, 3, 4):
        fusion = f"scratch.refinenet{i}."
        shapes.update({fusion + "out_conv.weight": (f, f, 1, 1), fusion + "out_conv.bias": (f,)})
        for unit in ("resConfUnit1", "resConfUnit2"):
            for conv in ("conv1", "conv2"):
                shapes.update({f"{fusion}{unit}.{conv}.weight": (f, f, 3, 3), f"{fusion}{unit}.{conv}.bias": (f,)})
    shapes.update({
        "scratch.output_conv.0.weight": (f // 2, f, 3, 3), "scratch.output_conv.0.bias": (f // 2,),
        "scratch.output_conv.2.weight": (32, f // 2, 3, 3), "scratch.output_conv.2.bias": (32,),
        "scratch.output_conv.4.weight": (1, 32, 1, 1), "scratch.output_conv.4.bias": (1,),
    })
    return shapes


# ------------------------------------------------------------------------------ key map
_VIT_BLOCK_MAP = {
    "norm1": "layernorm_before", "attn.proj": "attention.output.dense", "norm2": "layernorm_after",
    "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense",
}
_FIXED_MAP = {
    _VIT + "cls_token": "dpt.embeddings.cls_token",
    _VIT + "pos_embed": "dpt.embeddings.position_embeddings",
    _VIT + "patch_embed.proj.weight": "dpt.embeddings.patch_embeddings.projection.weight",
    _VIT + "patch_embed.proj.bias": "dpt.embeddings.patch_embeddings.projection.bias",
    _VIT + "norm.weight": "dpt.layernorm.weight",
    _VIT + "norm.bias": "dpt.layernorm.bias",
}
_POST = re.compile(r"^pretrained\.act_postprocess([1-4])\.(0\.project\.0|3|4)\.(weight|bias)$")
_FUSION = re.compile(r"^scratch\.refinenet([1-4])\.(out_conv|resConfUnit([12])\.conv([12]))\.(weight|bias)$")
_HEAD = re.compile(r"^scratch\.output_conv\.([024])\.(weight|bias)$")
_RN = re.compile(r"^scratch\.layer([1-4])_rn\.weight$")


def _hf_name(name: str) -> str:
    """The ``DPTForDepthEstimation`` name of a MiDaS key (``attn.qkv`` excepted: it splits in three)."""
    if name in _FIXED_MAP:
        return _FIXED_MAP[name]
    if match := _BLOCK_KEY.match(name):
        rest = name[match.end():]
        module, _, leaf = rest.rpartition(".")
        return f"dpt.encoder.layer.{match.group(1)}.{_VIT_BLOCK_MAP[module]}.{leaf}"
    if match := _POST.match(name):
        stage, part, leaf = int(match.group(1)) - 1, match.group(2), match.group(3)
        target = {"0.project.0": f"readout_projects.{stage}.0", "3": f"layers.{stage}.projection",
                  "4": f"layers.{stage}.resize"}[part]
        return f"neck.reassemble_stage.{target}.{leaf}"
    if match := _RN.match(name):
        return f"neck.convs.{int(match.group(1)) - 1}.weight"
    if match := _FUSION.match(name):
        layer = 4 - int(match.group(1))  # refinenet4 runs first: transformers' fusion layer 0
        part = ("projection" if match.group(2) == "out_conv"
                else f"residual_layer{match.group(3)}.convolution{match.group(4)}")
        return f"neck.fusion_stage.layers.{layer}.{part}.{match.group(5)}"
    if match := _HEAD.match(name):
        return f"head.head.{match.group(1)}.{match.group(2)}"
    raise KeyError(name)


def convert_midas_state_dict(state: Mapping[str, torch.Tensor],
                             architecture: MidasArchitecture | None = None) -> dict[str, torch.Tensor]:
    """A MiDaS ``DPTDepthModel`` state dict renamed for ``transformers``' ``DPTForDepthEstimation``.

    Every key maps to one key (same tensor), except ``blocks.{i}.attn.qkv.{weight,bias}``, whose thirds (query,
    key, value, in timm's order) become ``attention.attention.{query,key,value}``, and the unused classifier
    ``pretrained.model.head.*``, which is dropped. ``architecture`` (default: :func:`midas_architecture`, which
    checks every key and shape first) is only used for that check.

    Raises:
        IncompatibleCheckpointError: see :func:`midas_architecture`.
    """
    expected = midas_state_shapes(architecture if architecture is not None else midas_architecture(state))
    kept = {name: tensor for name, tensor in state.items() if name not in _UNUSED}
    problems = mismatch_summary(expected, kept)
    if problems:
        raise IncompatibleCheckpointError(f"the MiDaS state dict does not fit its architecture: {problems}")
    converted: dict[str, torch.Tensor] = {}
    for name, tensor in kept.items():
        if name.endswith((".attn.qkv.weight", ".attn.qkv.bias")):
            block = _BLOCK_KEY.match(name).group(1)  # type: ignore[union-attr]
            leaf = name.rpartition(".")[2]
            for part, third in zip(("query", "key", "value"), tensor.chunk(3, dim=0), strict=True):
                converted[f"dpt.encoder.layer.{block}.attention.attention.{part}.{leaf}"] = third.clone()
        else:
            converted[_hf_name(name)] = tensor
    return converted


def load_midas_dpt(
    path_or_state_dict: str | os.PathLike[str] | Mapping[str, Any],
    *,
    input_size: int = 128,
    output: OutputKind = "depth",
    map_location: str | torch.device = "cpu",
) -> TransformerDepthModel:
    """A MiDaS ``DPTDepthModel`` checkpoint (a ``.pt`` file of ``torch.save(model.state_dict())``, read with
    ``weights_only=True``, or a mapping of tensors / arrays) as a :class:`TransformerDepthModel` in eval mode.

    Args:
        path_or_state_dict: the checkpoint (any ViT backbone of :func:`midas_architecture`).
        input_size: the square side :meth:`TransformerDepthModel.predict` feeds the network (a multiple of 32);
            the original project trained and ran at 128.
        output: ``"depth"`` for MiDaS ``non_negative=False`` (a linear last layer, as the original project
            trained it), ``"relative_inverse"`` for ``non_negative=True`` (MiDaS's own releases, ReLU).
        map_location: device of the returned model.

    The config's backbone is ``"dpt-large"``: it names the family and the preprocessing (mean = std = 0.5), the
    architecture is the checkpoint's (:meth:`MidasArchitecture.hf_config`, stored by
    :func:`helpers.depth.models.save_depth_model`).

    Raises:
        IncompatibleCheckpointError: not a MiDaS ViT DPT state dict, or keys / shapes that do not fit.
    """
    if input_size % 32:
        raise ValueError(f"MiDaS DPT runs on sides that are multiples of 32 (its fusion blocks up-sample by 2 four "
                         f"times), got input_size={input_size}: use 128 (the original's) or 384")
    state = read_original_state_dict(path_or_state_dict, map_location=map_location)
    architecture = midas_architecture(state)
    converted = convert_midas_state_dict(state, architecture)
    del state
    config = TransformerDepthConfig(backbone="dpt-large", input_size=input_size, output=output, pretrained=False)
    weights = {f"hf_model.{name}": tensor for name, tensor in converted.items()}
    return TransformerDepthModel.from_weights(config, architecture.hf_config(), weights).to(map_location)
