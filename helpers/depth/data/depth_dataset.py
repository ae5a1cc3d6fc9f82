"""A torch ``Dataset`` of (image, depth, mask, camera) for depth regression.

Sources (one or several roots, detected per root or named by :attr:`DepthDatasetConfig.source`): ``"folder"``, this
toolkit's dataset folder (:class:`helpers.dataset_folder.reader.DatasetFolder`, detected by its ``meta.json``);
``"synthetic"`` / ``"prosopo"``, the original project's layouts (:mod:`helpers.datasets.original_layouts`).
``dataset[i]`` is a dict (every value collates with PyTorch's default ``collate_fn``):

- ``image``: (3, S, S) float32 RGB in [0, 1], S = :attr:`DepthDatasetConfig.image_size`; model normalisation is left
  to the training step (:func:`helpers.depth.networks.model_inputs.normalize_images`).
- ``depth``: (1, R, R) float32, R = :attr:`DepthDatasetConfig.depth_size`, by :attr:`DepthDatasetConfig.target`:
  ``"metric_z"``, camera z-depth in EG3D world units, 0 where there is no surface (our folders only);
  ``"original"``, the original's per-image [-1, 1] map, 1 = nearest, −1 = farthest and background.
- ``mask``: (1, R, R) bool foreground (our folders: a surface, opacity >= ``min_opacity``; original layouts: fallback).
- ``camera``: (25,) float32 EG3D camera vector of the returned image (crop and flip applied). **Unknown cameras**
  (Prosopo) are filled with NaN: test with ``torch.isfinite(batch["camera"]).all(-1)``.
- ``id``: the sample id (str; a batch holds a list of them).

Depth and mask: nearest neighbour resampling. Batches: :func:`helpers.training.seeded_loader.make_loader`;
:meth:`DepthDataset.use_cache` makes items cheap. Read errors: :class:`helpers.training.sample_check.SampleReadError`.
Design notes: docs/design/depth.md (depth_dataset): items in full, resizing, throughput, reproducibility, bad files.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Sequence
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
from helpers.training.sample_check import BadSample, reading
from helpers.training.seeded_loader import SEED_RANGE

__all__ = ["DepthDataset"]

# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


def _camera_or_nan(camera: np.ndarray | None) -> torch.Tensor:
    if camera is None:
        return torch.full((cameras.CAMERA_DIM,), float("nan"))
    return torch.from_numpy(np.asarray(camera, dtype=np.float32).reshape(cameras.CAMERA_DIM))


def _unique_ids(folders: list[str], ids: list[list[str]]) -> list[str]:
    counts = Counter(i for per_folder in ids for i in per_folder)
    if len(set(folders)) != len(folders):
        folders = [f"{k}-{name}" for k, name in enumerate(folders)]
    return [f"{folder}/{i}" if counts[i] > 1 else i for folder, per_folder in zip(folders, ids) for i in per_folder]


class DepthDataset(Dataset):
    """(image, depth, mask, camera, id) items from our dataset folders and/or the original layouts.

    Args:
        roots: one folder or several (their items are concatenated, in the given order; ids sorted per folder).
        config: sizes, target, augmentation, split, source options (:class:`DepthDatasetConfig`).
        exclude: samples to leave out, as ``(folder, sample id)`` pairs (``folder`` as given in ``roots``).

    Index with an int, or with ``(index, item_seed)`` to fix the augmentation (what :class:`SeededSampler` yields).
    """

    #: :func:`make_loader` feeds ``(index, item_seed)`` keys through a :class:`SeededSampler`.
    takes_item_seeds = True

    def __init__(self, roots: PathLike | Sequence[PathLike], config: DepthDatasetConfig | None = None, *,
                 exclude: Collection[tuple[str, str]] = ()) -> None:
        self.config = config or DepthDatasetConfig()
        paths = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
        if not paths:
            raise ValueError("DepthDataset needs at least one folder")
        #: Samples left out, as ``(folder, sample id)`` pairs.
        self.excluded = frozenset((str(folder), str(sample)) for folder, sample in exclude)
        self.sources = [open_source(Path(p), self.config, {i for f, i in self.excluded if f == str(Path(p))})
                        for p in paths]
        if self.config.target == "metric_z":
            nonmetric = [str(s.root) for s in self.sources if not s.metric]
            if nonmetric:
                raise ValueError(
                    f"{', '.join(nonmetric)}: the original layouts hold 8-bit depth normalised per image, without a "
                    "metric scale; use DepthDatasetConfig(target='original') to train on them"
                )
        sizes = [len(s) for s in self.sources]
        self._offsets = np.cumsum([0, *sizes])
        #: Sample ids of every item, in item order, unique: an id found in several folders is written
        #: ``<folder name>/<id>`` (e.g. converted 3DFaceNet CoarseData and FineData, which share their names).
        self.ids: list[str] = _unique_ids([Path(s.root).name for s in self.sources],
                                          [[str(i) for i in s.ids] for s in self.sources])
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
            with reading(self.ids[index], maps.image_path):
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
        """The same folders with some config fields changed (e.g. ``split="val", augment=None``) and the same samples
        left out; no cache (call :meth:`use_cache` again: a cache with the same contents is found and reused)."""
        return type(self)([s.root for s in self.sources], replace(self.config, **changes), exclude=self.excluded)

    # ------------------------------------------------------------------ data check
    def sample_files(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """``(folder, sample id, files an item reads)`` of every item, in item order."""
        return [(str(s.root), str(s.ids[i]), s.files(i)) for s in self.sources for i in range(len(s))]

    def known_bad(self) -> list[BadSample]:
        """Samples of the split that the original layouts left out for a missing file (``missing="skip"``)."""
        return [bad for s in self.sources for bad in s.known_bad()]

    def without(self, samples: Collection[tuple[str, str]]) -> DepthDataset:
        """The same dataset without these ``(folder, sample id)`` samples (no cache: call :meth:`use_cache`)."""
        return type(self)([s.root for s in self.sources], self.config, exclude=self.excluded | {
            (str(folder), str(sample)) for folder, sample in samples})

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
        with reading(self.ids[index], maps.image_path):
            image = read_resized(maps.image_path, self.config.image_size)
        return image, self._target(maps, source).numpy(), maps.mask, _camera_or_nan(maps.camera).numpy()
