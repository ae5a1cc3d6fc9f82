"""What a :class:`helpers.depth.data.depth_dataset.DepthDataset` returns: sizes, target, split, sources, augmentation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from helpers.base import cameras
from helpers.dataset_folder.splits import Selection, SplitConfig
from helpers.datasets.original_layouts import MissingPolicy
from helpers.depth.data.augment import AugmentConfig
from helpers.depth.networks.model_inputs import ModelInput, get_model_input

__all__ = ["DepthDatasetConfig", "PathLike", "Source", "Target"]

Target = Literal["metric_z", "original"]
Source = Literal["auto", "folder", "synthetic", "prosopo"]
PathLike = str | os.PathLike[str]

_TARGETS = ("metric_z", "original")
_SOURCES = ("auto", "folder", "synthetic", "prosopo")


@dataclass(frozen=True)
class DepthDatasetConfig:
    """What a :class:`DepthDataset` returns (items: see :mod:`helpers.depth.data.depth_dataset`).

    Attributes:
        image_size: side S of the square model input in pixels (128: the Attention U-Net; see :meth:`for_model`).
        depth_size: side R of the square depth and mask maps (128: the original's depth resolution).
        target: ``"metric_z"`` (z-depth, world units, 0 = no surface; our folders only) or ``"original"``
            (per-image [-1, 1], 1 = nearest; any source).
        augment: random augmentations (:class:`helpers.depth.data.augment.AugmentConfig`), None = off (val / test).
        split: ``"all"``, ``"train"``, ``"val"`` or ``"test"`` (:mod:`helpers.dataset_folder.splits`, by sample id).
        splits: fractions and salt of the split.
        source: ``"auto"`` (per root: ``meta.json`` → our folder, else the original layout found), or force
            ``"folder"``, ``"synthetic"``, ``"prosopo"``.
        min_opacity: our folders: also require opacity >= this in the mask (0: the surface mask only, and the
            mask PNG is not read).
        original_mask_threshold: original layouts: fallback mask ``depth > threshold`` on [-1, 1]; None = all pixels.
        original_focal: original synthetic set: focal the images were rendered with (4.4652); None keeps the
            camera files' focal (this toolkit's ``--legacy`` copies).
        missing: original layouts: ``"error"`` or ``"skip"`` for images without a depth (or camera) file.
    """

    image_size: int = 128
    depth_size: int = 128
    target: Target = "metric_z"
    augment: AugmentConfig | None = None
    split: Selection = "all"
    splits: SplitConfig = field(default_factory=SplitConfig)
    source: Source = "auto"
    min_opacity: float = 0.0
    original_mask_threshold: float | None = -1.0
    original_focal: float | None = cameras.SEED_FOCAL
    missing: MissingPolicy = "error"

    def __post_init__(self) -> None:
        for name in ("image_size", "depth_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"DepthDatasetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.target not in _TARGETS:
            raise ValueError(f"DepthDatasetConfig.target must be one of {_TARGETS}, got {self.target!r}")
        if self.source not in _SOURCES:
            raise ValueError(f"DepthDatasetConfig.source must be one of {_SOURCES}, got {self.source!r}")
        if self.split not in ("all", "train", "val", "test"):
            raise ValueError(f"DepthDatasetConfig.split must be 'all', 'train', 'val' or 'test', got {self.split!r}")
        if not 0.0 <= self.min_opacity <= 1.0:
            raise ValueError(f"DepthDatasetConfig.min_opacity must be in [0, 1], got {self.min_opacity}")

    @classmethod
    def for_model(cls, model: str | ModelInput, **overrides: Any) -> DepthDatasetConfig:
        """A config with the image size of a model of :data:`MODEL_INPUTS` (other fields from ``overrides``)."""
        return cls(**{"image_size": get_model_input(model).image_size, **overrides})
