"""Configuration of the transformer depth models of :mod:`helpers.depth.networks.dpt`.

The supported backbones (:data:`BACKBONES`, :data:`HF_IDS`), the typed frozen :class:`TransformerDepthConfig`, and
the small architectures of the tiny random test backbones. Nothing here imports ``transformers``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, get_args

__all__ = [
    "BACKBONES",
    "HF_IDS",
    "BackboneName",
    "BackboneSpec",
    "OutputKind",
    "TransformerDepthConfig",
]

BackboneName = Literal[
    "dpt-large", "dpt-hybrid-midas", "depth-anything-v2-small", "tiny-random-dpt", "tiny-random-depth-anything"
]
OutputKind = Literal["relative_inverse", "depth"]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone name stands for.

    Attributes:
        family: ``"dpt"`` (``DPTForDepthEstimation``) or ``"depth_anything"`` (``DepthAnythingForDepthEstimation``);
            also the ``model_type`` of the family's ``transformers`` config.
        hf_id: the Hugging Face Hub model id, or None for the tiny random test models (built locally).
        patch_size: pixels per token side (DPT 16, also the hybrid's ResNet stride; DINOv2 14).
        input_size: the native square input side (the checkpoint's processor size).
        mean, std: per-channel normalisation of RGB in [0, 1], from the checkpoint's ``preprocessor_config.json``.
    """

    family: Literal["dpt", "depth_anything"]
    hf_id: str | None
    patch_size: int
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


#: The supported backbones. Preprocessing numbers: see :mod:`helpers.depth.networks.dpt`'s docstring for their sources.
BACKBONES: dict[str, BackboneSpec] = {
    "dpt-large": BackboneSpec("dpt", "Intel/dpt-large", 16, 384, _HALF, _HALF),
    "dpt-hybrid-midas": BackboneSpec("dpt", "Intel/dpt-hybrid-midas", 16, 384, _HALF, _HALF),
    "depth-anything-v2-small": BackboneSpec(
        "depth_anything", "depth-anything/Depth-Anything-V2-Small-hf", 14, 518, _IMAGENET_MEAN, _IMAGENET_STD
    ),
    # Tiny random models for tests and smoke runs: same code paths and preprocessing as their families; ~140k
    # parameters drawn with PyTorch's default layer init from the global RNG (seed with torch.manual_seed).
    "tiny-random-dpt": BackboneSpec("dpt", None, 16, 64, _HALF, _HALF),
    "tiny-random-depth-anything": BackboneSpec("depth_anything", None, 14, 56, _IMAGENET_MEAN, _IMAGENET_STD),
}

#: Backbone name -> Hugging Face Hub id, for the public checkpoints.
HF_IDS: dict[str, str] = {name: spec.hf_id for name, spec in BACKBONES.items() if spec.hf_id is not None}


@dataclass(frozen=True)
class TransformerDepthConfig:
    """Which transformer depth model :class:`~helpers.depth.networks.dpt.TransformerDepthModel` builds and how it is used.

    Attributes:
        backbone: one of :data:`BACKBONES`: ``"dpt-large"`` (the MiDaS DPT-Large the original fine-tuned),
            ``"dpt-hybrid-midas"``, ``"depth-anything-v2-small"``, or the tiny random ``"tiny-random-dpt"`` /
            ``"tiny-random-depth-anything"`` (a few hundred thousand parameters, built offline, for tests).
        input_size: side of the square images :meth:`~helpers.depth.networks.dpt.TransformerDepthModel.predict` feeds the
            network; a multiple of the patch size (16 for DPT, 14 for Depth Anything). Default: the backbone's
            native size (384, 518; 64 and 56 for the tiny models). Position embeddings are interpolated, so other
            sizes work (the original fine-tuned DPT-Large at 128), except for ``"dpt-hybrid-midas"``, which
            ``transformers`` runs only at 384. :meth:`~helpers.depth.networks.dpt.TransformerDepthModel.forward` does not use
            it.
        output: ``"relative_inverse"`` (the published head: non-negative relative inverse depth) or ``"depth"``
            (linear last layer, for regressing a signed target such as the original's [-1, 1] depth or metric z).
        pretrained: load the published weights from the Hugging Face Hub (needs internet or the local HF cache).
            Default (None): True for the public backbones, False for the tiny ones. ``False`` with a public backbone
            builds the same architecture with random weights (it still downloads the small ``config.json``).
        model_id: a Hub id or local directory to load instead of the backbone's default id, e.g. a model saved with
            ``hf_model.save_pretrained``; it must be of the backbone's family.
        revision: Hub revision (branch, tag or commit) to pin the download to; None = the default branch.
    """

    backbone: BackboneName = "dpt-large"
    input_size: int | None = None
    output: OutputKind = "relative_inverse"
    pretrained: bool | None = None
    model_id: str | None = None
    revision: str | None = None

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}: expected one of {', '.join(map(repr, BACKBONES))}")
        if self.output not in get_args(OutputKind):
            raise ValueError(
                f"unknown output {self.output!r}: expected 'relative_inverse' (the published disparity head) or "
                "'depth' (linear head regressing the training target)"
            )
        spec = self.spec
        # Frozen dataclass: resolved defaults are written once, here.
        if self.input_size is None:
            object.__setattr__(self, "input_size", spec.input_size)
        if self.pretrained is None:
            object.__setattr__(self, "pretrained", spec.hf_id is not None or self.model_id is not None)
        size = self.input_size
        if not isinstance(size, int) or size < spec.patch_size or size % spec.patch_size:
            raise ValueError(
                f"TransformerDepthConfig.input_size must be a positive multiple of the patch size {spec.patch_size} "
                f"of {self.backbone!r}, got {size!r} (e.g. {spec.input_size})"
            )
        if self.backbone == "dpt-hybrid-midas" and size != spec.input_size:
            # transformers' ViT-hybrid embeddings refuse any other size (no interpolate_pos_encoding through DPT).
            raise ValueError(
                f"'dpt-hybrid-midas' runs only at its native input_size {spec.input_size} in transformers, got {size}"
            )
        if self.pretrained and spec.hf_id is None and self.model_id is None:
            raise ValueError(
                f"{self.backbone!r} is a tiny random test model without published weights: use pretrained=False "
                "(or give model_id of a saved model)"
            )

    @property
    def spec(self) -> BackboneSpec:
        """The :class:`BackboneSpec` of :attr:`backbone`."""
        return BACKBONES[self.backbone]

    @property
    def hf_id(self) -> str | None:
        """The Hub id or directory loaded: :attr:`model_id` if given, else the backbone's public id (None for the
        tiny random models)."""
        return self.model_id if self.model_id is not None else self.spec.hf_id

    @classmethod
    def original_midas(cls, **overrides: Any) -> TransformerDepthConfig:
        """The original project's setup: pretrained DPT-Large, 128x128 input, linear head regressing the per-image
        [-1, 1] depth (pair it with the ``original_l1`` loss). Keyword arguments override fields."""
        fields: dict[str, Any] = {"backbone": "dpt-large", "input_size": 128, "output": "depth", "pretrained": True}
        fields.update(overrides)
        return cls(**fields)

    def replace(self, **changes: Any) -> TransformerDepthConfig:
        """A copy with some fields changed (defaults are resolved again for the new backbone)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if "backbone" in changes and changes["backbone"] != self.backbone:
            fields.update(input_size=None, pretrained=None)
        fields.update(changes)
        return TransformerDepthConfig(**fields)


# ------------------------------------------------------------------------------ tiny test models
def _tiny_hf_config(family: str, tf: ModuleType) -> Any:
    """A small random-weights architecture of ``family`` that mirrors the real structure (4 reassemble stages
    with factors 4, 2, 1, 0.5, so the head's map comes out at the input size), with hidden size 32.

    ``tf`` is the ``transformers`` module (imported lazily by the caller)."""
    # Shared by both families: the ViT / DINOv2 encoder and the DPT neck.
    encoder = {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 64}
    neck = {"neck_hidden_sizes": [8, 16, 32, 32], "reassemble_factors": [4, 2, 1, 0.5], "fusion_hidden_size": 16}
    if family == "dpt":
        spec = BACKBONES["tiny-random-dpt"]
        return tf.DPTConfig(
            **encoder,
            image_size=spec.input_size,
            patch_size=spec.patch_size,
            backbone_out_indices=[0, 1, 2, 3],
            **neck,
        )
    spec = BACKBONES["tiny-random-depth-anything"]
    backbone = tf.Dinov2Config(
        **encoder,
        image_size=spec.input_size,
        patch_size=spec.patch_size,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
    )
    return tf.DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=spec.patch_size,
        reassemble_hidden_size=encoder["hidden_size"],
        **neck,
        head_hidden_size=8,
    )
