"""A torch ``Dataset`` of (image, depth, mask, camera) for depth regression, and its ``DataLoader``.

Sources (one or several roots, detected per root or named by :attr:`DepthDatasetConfig.source`):

- ``"folder"``: this toolkit's dataset folder (:class:`helpers.dataset_folder.folder.DatasetFolder`): 16-bit metric z-depth,
  opacity masks, cameras. Detected by its ``meta.json``.
- ``"synthetic"`` / ``"prosopo"``: the original project's layouts (:mod:`helpers.datasets.original_layouts`): 8-bit
  per-image normalised depth, fallback masks, cameras for the synthetic set only.

Items
-----
``dataset[i]`` is a dict (every value collates with PyTorch's default ``collate_fn``):

- ``image``: (3, S, S) float32 RGB in [0, 1], S = :attr:`DepthDatasetConfig.image_size`. Model normalisation
  (mean / std) is left to the training step, on the GPU batch: :func:`normalize_images` with :data:`MODEL_INPUTS`.
- ``depth``: (1, R, R) float32, R = :attr:`DepthDatasetConfig.depth_size`, by :attr:`DepthDatasetConfig.target`:
  ``"metric_z"``: camera z-depth in EG3D world units, 0 where there is no surface (our folders only; the original
  layouts have no metric scale). ``"original"``: the original's per-image [-1, 1] map, 1 = nearest, −1 = farthest
  and background; for our folders :func:`helpers.depth.metrics.depth_metrics.original_normalize` of z over the mask (min/max
  taken over the whole stored map, before any crop), for the original layouts what the file holds.
- ``mask``: (1, R, R) bool foreground. Our folders: the pixel has a surface (depth > 0, i.e. opacity reached the
  generator's ``depth_min_opacity``) and, when :attr:`DepthDatasetConfig.min_opacity` > 0, opacity >= it. Original
  layouts: the documented fallback :func:`helpers.datasets.original_layouts.fallback_mask` (no masks were published).
- ``camera``: (25,) float32 EG3D camera vector of the returned image (crop and flip applied: the intrinsics describe
  the S×S image and the R×R depth alike, both being normalised). **Unknown cameras** (Prosopo) are filled with NaN,
  so batches always collate; test with ``torch.isfinite(batch["camera"]).all(-1)``.
- ``id``: the sample id (str; a batch holds a list of them).

Resizing
--------
The image is decoded by PIL and resized in one step from the stored resolution (the crop box, if any, is applied
in the same call), bilinear, which PIL antialiases when shrinking (512 → 128). Depth and mask are resampled by
**nearest neighbour** (:func:`helpers.depth.data.augment.resample_nearest`): every output pixel takes the value of the
stored pixel that contains its centre, so background (0) never bleeds into the face and no depth is invented
between foreground and background. Integer down-sampling factors pick the same pixels as
``F.interpolate(mode="nearest-exact")``. Outputs are square: a non-square stored image is stretched (as
:meth:`helpers.depth.networks.attention_unet.AttentionUNet.predict` does), which the normalised intrinsics absorb.

Throughput
----------
Per item: one PNG decode + resize of the image, one small depth PNG decode, and a few vectorised tensor operations;
no per-pixel Python. Cameras of our folders come from the manifest (no file read). Metadata is kept in numpy
arrays, not per-sample Python objects, so forked workers do not copy it page by page through reference counting.
:func:`make_loader` runs ``workers`` processes (each with one torch thread) and pins memory. Decoding a 512² PNG
is most of an item's ~10 ms (one CPU core), which can starve a GPU training a small network at 128²:
:meth:`DepthDataset.use_cache` stores the resized images and the depth targets once as memory-mapped arrays, after
which an item costs well under 1 ms. With ``workers=0`` items are made in the main process, whose tensor operations
use torch's thread pool; on a busy machine that makes them slow: prefer ``workers >= 1``.

Reproducibility
---------------
:func:`make_loader` uses a :class:`SeededSampler` that yields ``(index, item_seed)``: the item seeds come from a
generator seeded by ``(seed, epoch)``, so augmentations (and the shuffle order) depend only on the loader's seed
and the epoch, not on the number of workers or their scheduling. ``dataset[i]`` with a plain int draws the item
seed from torch's global RNG (seeded per worker by PyTorch when used in a plain ``DataLoader``).

Modules
-------
This module holds the config and the dataset; the parts live next to it and are re-exported here:
:mod:`helpers.depth.data.depth_sources` (reading our folders and the original layouts), :mod:`helpers.depth.data.image_files`
(image decoding and resizing), :mod:`helpers.depth.data.item_cache` (:meth:`DepthDataset.use_cache`),
:mod:`helpers.training.seeded_loader` (:func:`make_loader`, :class:`SeededSampler`) and :mod:`helpers.depth.networks.model_inputs`
(:data:`MODEL_INPUTS`, :func:`normalize_images`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from helpers.base import cameras
from helpers.base.cameras import flip_camera
from helpers.depth.data import item_cache
from helpers.depth.data.augment import (
    IDENTITY,
    AugmentParams,
    apply_flip,
    apply_photometric,
    crop_camera,
    resample_bilinear,
    resample_nearest,
    sample_params,
)
from helpers.depth.data.depth_data_config import DepthDatasetConfig, PathLike
from helpers.depth.data.depth_sources import ItemSource, Maps, open_source
from helpers.depth.data.image_files import load_image, read_resized, to_float_image
from helpers.depth.metrics.depth_metrics import original_normalize
from helpers.training.seeded_loader import SEED_RANGE

__all__ = ["DepthDataset"]

# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


def _camera_or_nan(camera: np.ndarray | None) -> torch.Tensor:
    if camera is None:
        return torch.full((cameras.CAMERA_DIM,), float("nan"))
    return torch.from_numpy(np.asarray(camera, dtype=np.float32).reshape(cameras.CAMERA_DIM))


class DepthDataset(Dataset):
    """(image, depth, mask, camera, id) items from our dataset folders and/or the original layouts.

    Args:
        roots: one folder or several (their items are concatenated, in the given order; ids sorted per folder).
        config: sizes, target, augmentation, split, source options (:class:`DepthDatasetConfig`).

    Index with an int, or with ``(index, item_seed)`` to fix the augmentation (what :class:`SeededSampler` yields).
    """

    #: :func:`make_loader` feeds ``(index, item_seed)`` keys through a :class:`SeededSampler`.
    takes_item_seeds = True

    def __init__(self, roots: PathLike | Sequence[PathLike], config: DepthDatasetConfig | None = None) -> None:
        self.config = config or DepthDatasetConfig()
        paths = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
        if not paths:
            raise ValueError("DepthDataset needs at least one folder")
        self.sources = [open_source(Path(p), self.config) for p in paths]
        if self.config.target == "metric_z":
            nonmetric = [str(s.root) for s in self.sources if not s.metric]
            if nonmetric:
                raise ValueError(
                    f"{', '.join(nonmetric)}: the original layouts hold 8-bit depth normalised per image, without a "
                    "metric scale; use DepthDatasetConfig(target='original') to train on them"
                )
        sizes = [len(s) for s in self.sources]
        self._offsets = np.cumsum([0, *sizes])
        #: Sample ids of every item, in item order (an id can repeat across folders).
        self.ids: list[str] = [str(i) for s in self.sources for i in s.ids]
        self._cache: item_cache.ItemCache | None = None

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def metric(self) -> bool:
        """Whether ``depth`` items are metric z-depth (``target="metric_z"``); else the original's [-1, 1] maps."""
        return self.config.target == "metric_z"

    @property
    def all_sources_metric(self) -> bool:
        """Whether every folder stores metric depth (this toolkit's format), so ``target="metric_z"`` is possible."""
        return all(s.metric for s in self.sources)

    def __repr__(self) -> str:
        parts = ", ".join(f"{s.kind} {s.root} ({len(s)})" for s in self.sources)
        c = self.config
        return (f"DepthDataset({len(self)} items, split={c.split}, target={c.target}, image {c.image_size}², "
                f"depth {c.depth_size}², augment={'on' if c.augment else 'off'}: {parts})")

    def _item_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        return index % len(self)

    def locate(self, index: int) -> tuple[int, int]:
        """(source number, index inside that source) of an item."""
        index = self._item_index(index)
        source = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return source, index - int(self._offsets[source])

    def params(self, seed: int | None) -> AugmentParams:
        """The augmentation of an item with this seed (identity when augmentation is off)."""
        if self.config.augment is None:
            return IDENTITY
        if seed is None:
            seed = int(torch.randint(0, SEED_RANGE, ()).item())
        return sample_params(self.config.augment, torch.Generator().manual_seed(int(seed)))

    def _stored(self, index: int) -> tuple[Maps, ItemSource]:
        source_number, local = self.locate(index)
        source = self.sources[source_number]
        return source.read(local), source

    def _target(self, maps: Maps, source: ItemSource) -> torch.Tensor:
        """The stored depth map as the configured target, at the stored resolution."""
        depth = torch.from_numpy(maps.depth)
        if self.config.target == "original" and source.metric:
            return original_normalize(depth, torch.from_numpy(maps.mask))  # over the whole stored map
        return depth

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        index = self._item_index(int(index))
        params = self.params(seed)
        c = self.config

        if self._cache is not None:
            image_u8, depth_np, mask_np, camera_np = self._cache.read(index)
            image = to_float_image(image_u8)
            if not params.crop.is_identity:  # a zoom-in of the cached image_size² image
                image = resample_bilinear(image, c.image_size, params.crop)
            depth, mask, camera = torch.from_numpy(depth_np), torch.from_numpy(mask_np), torch.from_numpy(camera_np)
        else:
            maps, source = self._stored(index)
            image = load_image(maps.image_path, c.image_size, params.crop)
            depth, mask, camera = self._target(maps, source), torch.from_numpy(maps.mask), _camera_or_nan(maps.camera)
        depth = resample_nearest(depth, c.depth_size, params.crop)[None]
        mask = resample_nearest(mask, c.depth_size, params.crop)[None]
        camera = crop_camera(camera, params.crop)
        if params.flip:
            image, depth, mask = apply_flip(params, image, depth, mask)
            camera = flip_camera(camera)
        image = apply_photometric(image, params)
        return {
            "image": image.contiguous(),
            "depth": depth.float().contiguous(),
            "mask": mask.contiguous(),
            "camera": camera.float(),
            "id": self.ids[index],
        }

    def with_config(self, **changes: Any) -> DepthDataset:
        """The same folders with some config fields changed (e.g. ``split="val", augment=None``); no cache (call
        :meth:`use_cache` again: a cache with the same contents is found and reused)."""
        return DepthDataset([s.root for s in self.sources], replace(self.config, **changes))

    # ------------------------------------------------------------------ cache
    def cache_key(self) -> str:
        """Hex digest of everything a cache's contents depend on: folders and their state, item ids, image size,
        target and mask options (not depth_size, augmentation or split selection beyond the ids)."""
        c = self.config
        return item_cache.cache_key(
            [[s.kind, str(Path(s.root).resolve()), s.fingerprint()] for s in self.sources], self.ids,
            image_size=c.image_size, target=c.target, min_opacity=c.min_opacity,
            original_mask_threshold=c.original_mask_threshold, original_focal=c.original_focal,
        )

    def use_cache(self, directory: PathLike, *, workers: int = 0, progress: bool = True) -> DepthDataset:
        """Serve items from memory-mapped arrays under ``directory`` (built on first use); returns ``self``.

        The cache holds each item's image already resized to ``image_size`` (uint8) and its stored depth target,
        mask and camera, so an item costs a few array reads instead of a PNG decode: use it when the loader, not
        the GPU, limits training. Items are identical to the uncached ones except that a crop is resampled from
        the cached image_size² image (bilinear zoom-in) instead of the stored full-resolution image. The cache
        lives in ``directory/depth-cache-<key>/`` (:meth:`cache_key`): another config or changed folders get
        another one; the build is crash-safe (temporary folder, renamed when complete). Delete old caches by hand.
        Size per item: 3·S² + 5·R0² bytes + 100 (S = image_size, R0 = stored depth side): ~130 KB at 128/128.
        See :mod:`helpers.depth.data.item_cache`.
        """
        self._cache = item_cache.open_cache(directory, self.cache_key(), self._cache_row, self.ids,
                                            image_size=self.config.image_size, workers=workers,
                                            progress=progress)
        return self

    def _cache_row(self, index: int) -> item_cache.Row:
        """What the cache stores of an item: image resized to image_size (uint8), depth target, mask, camera."""
        maps, source = self._stored(index)
        image = read_resized(maps.image_path, self.config.image_size)
        return image, self._target(maps, source).numpy(), maps.mask, _camera_or_nan(maps.camera).numpy()
