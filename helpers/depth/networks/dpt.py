"""Transformer depth regressors: MiDaS DPT and Depth Anything V2 through Hugging Face ``transformers``.

Wraps ``transformers.DPTForDepthEstimation`` (the DPT-Large MiDaS v3 weights ``Intel/dpt-large``, or DPT-Hybrid
``Intel/dpt-hybrid-midas``) and ``transformers.DepthAnythingForDepthEstimation`` (``Depth-Anything-V2-Small``) behind
the interface of :class:`helpers.depth.networks.attention_unet.AttentionUNet`, with a typed frozen config
(:class:`helpers.depth.networks.dpt_config.TransformerDepthConfig`). ``transformers`` is imported lazily.

* :meth:`TransformerDepthModel.forward`: input ``(N, 3, H, W)`` RGB already normalised the backbone's way
  (:meth:`TransformerDepthModel.normalize`, rgb in [0, 1]); output ``(N, 1, H, W)`` at the input size. DPT backbones
  need H == W, DPT-Hybrid its native 384x384; Depth Anything takes any H, W.
* :meth:`TransformerDepthModel.predict`: images ``(N, 3, H, W)`` float in [0, 1] or uint8 -> ``(N, 1, H, W)`` at the
  images' size, computed at ``config.input_size`` squared; aligned square face crops are the intended input.
* ``config.output``: ``"relative_inverse"``, the pretrained head as published: disparity >= 0, **larger = nearer**,
  up to an unknown scale and shift per image; ``"depth"``: the final ReLU replaced by the identity, so the head
  regresses a signed target directly (the original's [-1, 1] map with 1 = nearest, or metric z-depth).
* Fine-tuning: :meth:`TransformerDepthModel.freeze_backbone`, :meth:`TransformerDepthModel.parameter_groups`
  (separate encoder and head rates); weights are the module's ``state_dict`` (keys ``hf_model.*``), loaded without a
  random initialisation by :meth:`TransformerDepthModel.from_weights` (MiDaS checkpoints: :mod:`~.midas_dpt`).

Design notes: docs/design/depth.md (dpt): the checkpoints' preprocessing, what the original project did.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from helpers.depth.networks.dpt_config import (
    BackboneName,
    TransformerDepthConfig,
    _tiny_hf_config,
)
from helpers.depth.networks.original_weights import IncompatibleCheckpointError, mismatch_summary
from helpers.depth.networks.predict import predict_depth

__all__ = ["TransformerDepthModel"]

# family -> transformers model class (the family name is also the class's config.model_type)
_CLASS_NAMES = {"dpt": "DPTForDepthEstimation", "depth_anything": "DepthAnythingForDepthEstimation"}


# ------------------------------------------------------------------------------------ transformers
def _import_transformers() -> ModuleType:
    """The ``transformers`` module, with an actionable error when it is missing."""
    try:
        import transformers  # imported lazily: heavy (seconds), and only these models need it
    except ImportError as exc:
        raise ImportError(
            "the DPT / Depth Anything depth models need Hugging Face transformers: `pip install transformers` "
            f"(it works without torchvision) [{exc}]"
        ) from None
    return transformers


def _build_hf_model(config: TransformerDepthConfig, architecture: dict[str, Any] | None = None) -> nn.Module:
    """The ``transformers`` model of ``config``, float32, with the published head (ReLU output).

    ``architecture``: the ``config.json`` contents (``hf_model.config.to_dict()``), to rebuild a saved
    model without network access; its weights are random until a state dict is loaded."""
    tf = _import_transformers()
    family = config.spec.family
    model_class = getattr(tf, _CLASS_NAMES[family])
    if architecture is not None:
        fields = {k: v for k, v in architecture.items() if k != "model_type"}
        if architecture.get("model_type", family) != family:
            raise ValueError(f"the stored architecture is a {architecture['model_type']!r} model, not {family!r}")
        return model_class(tf.AutoConfig.for_model(family, **fields)).float()
    model_id = config.hf_id
    if model_id is None:  # tiny random model: built here, no network
        model = model_class(_tiny_hf_config(family, tf)).float()
        # transformers' N(0, 0.02) init shrinks the signal at every layer: a tiny model's output would be ~1e-9,
        # useless for smoke runs and tests. PyTorch's default layer init keeps it at a visible scale (~0.1).
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                module.reset_parameters()
        return model
    local = Path(model_id).expanduser()
    if local.is_dir() and not (local / "config.json").is_file():
        raise OSError(
            f"{local} holds no config.json, so it is not a saved transformers model "
            "(save one with model.hf_model.save_pretrained(directory))"
        )
    hub_kwargs: dict[str, Any] = {} if config.revision is None else {"revision": config.revision}
    try:
        hf_config = tf.AutoConfig.from_pretrained(model_id, **hub_kwargs)
        if hf_config.model_type != family:
            raise ValueError(
                f"{model_id!r} is a {hf_config.model_type!r} model, not {family!r} as backbone "
                f"{config.backbone!r} needs: choose the matching backbone name"
            )
        if not config.pretrained:
            return model_class(hf_config).float()
        model = model_class.from_pretrained(model_id, config=hf_config, **hub_kwargs)
    except OSError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
        raise OSError(
            f"could not load {model_id!r} from the Hugging Face Hub or its local cache ({reason}). Downloads need "
            "internet (Colab has it); offline, run once with internet to fill the cache, or use a tiny-random-* "
            "backbone"
        ) from exc
    return model.float()


def _linear_output(hf_model: nn.Module, family: str) -> None:
    """Replace the head's final ReLU by the identity, in place (``output="depth"``).

    The DPT head is ``Sequential(conv, upsample, conv, ReLU, conv 1x1, ReLU)`` and Depth Anything's ends with
    ``conv3`` then ``activation2`` (ReLU for relative models), multiplied by ``max_depth`` (1 for relative models).
    A ReLU output cannot reach the negative half of a [-1, 1] target; the original removed it the same way
    (MiDaS ``non_negative=False``). No parameter changes, so state dicts of both outputs have the same keys.
    """
    head = hf_model.head
    if family == "dpt":
        layers = head.head
        if not isinstance(layers[-1], nn.ReLU):
            raise RuntimeError(f"unexpected DPT head (last layer {type(layers[-1]).__name__}, expected ReLU)")
        layers[-1] = nn.Identity()
        return
    if not isinstance(head.activation2, nn.ReLU):
        raise RuntimeError(
            f"unexpected Depth Anything head: final activation {type(head.activation2).__name__}, expected ReLU "
            "(a metric model with a sigmoid head is not supported)"
        )
    head.activation2 = nn.Identity()


# ---------------------------------------------------------------------------------------- model
class TransformerDepthModel(nn.Module):
    """A ``transformers`` DPT / Depth Anything depth model with this toolkit's depth-model interface.

    ``TransformerDepthModel(config)`` builds the model of :class:`TransformerDepthConfig` (downloading the
    published weights when ``config.pretrained``; see also :meth:`from_pretrained`). ``architecture`` (the
    ``hf_model.config.to_dict()`` of a saved model) rebuilds that architecture offline, with random weights. The model is in eval mode when
    built from published weights (as ``transformers``' ``from_pretrained``), in train mode otherwise; call
    ``.train()`` to fine-tune.

    Attributes:
        config: the :class:`TransformerDepthConfig`.
        hf_model: the wrapped ``DPTForDepthEstimation`` / ``DepthAnythingForDepthEstimation``.
        fixed_input_size: the only input side the model accepts (DPT-Hybrid: 384), or None (any size).
        image_mean, image_std: ``(1, 3, 1, 1)`` normalisation buffers (not saved in the state dict).
    """

    image_mean: torch.Tensor
    image_std: torch.Tensor

    def __init__(self, config: TransformerDepthConfig | None = None, *,
                 architecture: dict[str, Any] | None = None) -> None:
        super().__init__()
        config = config if config is not None else TransformerDepthConfig()
        if not isinstance(config, TransformerDepthConfig):
            raise TypeError(f"config must be a TransformerDepthConfig, got {type(config).__name__}")
        self.config = config
        self.hf_model = _build_hf_model(config, architecture)
        hf_config = self.hf_model.config
        # DPT-Hybrid's ResNet embeddings accept only the size the model was built for.
        self.fixed_input_size: int | None = None
        if getattr(hf_config, "is_hybrid", False):
            size = hf_config.image_size
            self.fixed_input_size = int(size if isinstance(size, int) else size[0])
            if config.input_size != self.fixed_input_size:
                raise ValueError(
                    f"{config.hf_id!r} is a DPT-Hybrid model, which transformers runs only at "
                    f"{self.fixed_input_size}x{self.fixed_input_size}: set input_size={self.fixed_input_size}"
                )
        if config.output == "depth":
            _linear_output(self.hf_model, config.spec.family)
        spec = config.spec
        # On the CPU even when built under torch.device("meta") (from_weights): they are not in the state dict.
        self.register_buffer("image_mean", torch.tensor(spec.mean, device="cpu").view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(spec.std, device="cpu").view(1, 3, 1, 1), persistent=False)
        self.train(not config.pretrained)

    @classmethod
    def from_pretrained(cls, backbone: BackboneName = "dpt-large", **config_fields: Any) -> TransformerDepthModel:
        """The published weights of ``backbone`` from the Hugging Face Hub (cached by ``huggingface_hub``), e.g.
        ``TransformerDepthModel.from_pretrained("dpt-large", output="depth", input_size=128)``. Needs internet
        on first use. Keyword arguments are other :class:`TransformerDepthConfig` fields."""
        return cls(TransformerDepthConfig(backbone=backbone, pretrained=True, **config_fields))

    @classmethod
    def from_weights(cls, config: TransformerDepthConfig, architecture: dict[str, Any] | None,
                     state_dict: Mapping[str, torch.Tensor]) -> TransformerDepthModel:
        """A model of ``config`` and ``architecture`` (the ``hf_model.config.to_dict()`` contents) holding
        ``state_dict`` (keys ``hf_model.*``, as :meth:`state_dict` gives them), in eval mode.

        No random initialisation is spent: the network is built of meta tensors that the weights then replace
        (``load_state_dict(assign=True)``; seconds saved for DPT-Large), so the tensors of ``state_dict`` become
        the model's. ``config.pretrained`` must be False (nothing is downloaded when ``architecture`` is given).

        Raises:
            helpers.depth.networks.original_weights.IncompatibleCheckpointError: one line naming the missing and
                unexpected keys and shape mismatches.
        """
        if config.pretrained:
            raise ValueError("from_weights builds the architecture without published weights: use pretrained=False")
        with torch.device("meta"):
            model = cls(config, architecture=architecture)
        problems = mismatch_summary({name: t.shape for name, t in model.state_dict().items()}, state_dict)
        if problems:
            raise IncompatibleCheckpointError(f"the weights do not fit the {config.backbone!r} model: {problems}")
        model.load_state_dict(state_dict, strict=True, assign=True)
        return model.eval()

    # --------------------------------------------------------------------------- parts
    @property
    def backbone(self) -> nn.Module:
        """The transformer encoder: ``hf_model.dpt`` (ViT, or ViT-hybrid with its ResNet stem) for DPT,
        ``hf_model.backbone`` (DINOv2) for Depth Anything."""
        hf = self.hf_model
        encoder = getattr(hf, "backbone", None)
        return encoder if encoder is not None else hf.dpt

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters of :attr:`backbone`."""
        return list(self.backbone.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        """All other parameters: the neck (reassemble and fusion blocks) and the depth head."""
        encoder = {id(p) for p in self.backbone.parameters()}
        return [p for p in self.parameters() if id(p) not in encoder]

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Stop (``frozen=True``) or allow gradients into the backbone's parameters (``requires_grad``).

        Only gradients are affected: the backbone still runs in the module's train/eval mode. Build the optimizer
        (:meth:`parameter_groups`) after choosing, or include all parameters so that unfreezing later takes effect.
        """
        for param in self.backbone.parameters():
            param.requires_grad_(not frozen)

    def parameter_groups(
        self, backbone_lr: float, head_lr: float, *, trainable_only: bool = True
    ) -> list[dict[str, Any]]:
        """Optimizer parameter groups with their own learning rates, e.g. ``torch.optim.AdamW(
        model.parameter_groups(backbone_lr=1e-5, head_lr=1e-4))``.

        Returns ``[{"name": "backbone", "params": [...], "lr": backbone_lr}, {"name": "head", ...}]``, leaving out
        parameters that do not require gradients (``trainable_only``) and groups left empty (a frozen backbone).
        The original fine-tuned everything at one rate (Adam, 1e-4).
        """
        groups = []
        for name, params, lr in (
            ("backbone", self.backbone_parameters(), backbone_lr),
            ("head", self.head_parameters(), head_lr),
        ):
            if trainable_only:
                params = [p for p in params if p.requires_grad]
            if params:
                groups.append({"name": name, "params": params, "lr": float(lr)})
        return groups

    # --------------------------------------------------------------------------- network
    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """``(images - mean) / std`` with the backbone's statistics: RGB in [0, 1] -> :meth:`forward`'s input."""
        return (images - self.image_mean.to(images.dtype)) / self.image_std.to(images.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Depth for normalised images.

        Args:
            x: ``(N, 3, H, W)`` float, normalised with :meth:`normalize`. DPT backbones need H == W, DPT-Hybrid
                exactly :attr:`fixed_input_size`.

        Returns:
            ``(N, 1, H, W)``: relative inverse depth (``output="relative_inverse"``) or the regressed target
            (``output="depth"``), see the module docstring. Resized bilinearly to (H, W) when the network's map has
            another size (H or W not a multiple of the patch size).
        """
        self._check_input(x)
        depth = self.hf_model(pixel_values=x).predicted_depth
        if depth.ndim == 3:  # both heads squeeze the channel dimension
            depth = depth.unsqueeze(1)
        if tuple(depth.shape[-2:]) != tuple(x.shape[-2:]):
            depth = F.interpolate(depth, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
        return depth

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected input of shape (N, 3, H, W), got {shape}")
        if not x.is_floating_point():
            raise ValueError(f"expected normalised float input, got {x.dtype} (use predict() for uint8 images)")
        spec = self.config.spec
        height, width = x.shape[-2:]
        if min(height, width) < spec.patch_size:
            raise ValueError(f"input of {height}x{width} pixels is smaller than one {spec.patch_size}-pixel patch")
        fixed = self.fixed_input_size
        if fixed is not None and (height, width) != (fixed, fixed):
            raise ValueError(
                f"DPT-Hybrid takes only {fixed}x{fixed} input, got {height}x{width} (predict() resizes for you)"
            )
        if spec.family == "dpt" and height != width:
            # transformers' DPT reshapes the ViT tokens into a square grid (sqrt of the sequence length).
            raise ValueError(
                f"DPT backbones need square input, got {height}x{width}: resize or crop to a square "
                "(predict() does this for you)"
            )

    # --------------------------------------------------------------------------- inference
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Depth maps for RGB images, at the images' size.

        Args:
            images: ``(N, 3, H, W)`` float in [0, 1], or uint8 in 0..255; any device (moved to the model's).
                Non-square images are stretched to the square network input and the depth back, so aligned square
                face crops work best.

        Returns:
            ``(N, 1, H, W)`` float on the images' device: relative inverse depth (>= 0, larger = nearer, unknown
            scale and shift) for ``output="relative_inverse"``, the regressed target (e.g. [-1, 1] with 1 = nearest,
            not clamped) for ``output="depth"``. Computed under ``torch.inference_mode``, so it carries no autograd
            history.

        The images are resized to ``config.input_size`` squared (bilinear, antialiased when shrinking), normalised
        with the backbone's mean/std, run through the network in eval mode (each submodule's train/eval state is
        restored afterwards) and the depth is resized back the same way.
        """
        return predict_depth(self, images, channels=3, input_size=self.config.input_size, normalize=self.normalize)

    def extra_repr(self) -> str:
        cfg = self.config
        return f"backbone={cfg.backbone!r}, output={cfg.output!r}, input_size={cfg.input_size}, hf_id={cfg.hf_id!r}"
