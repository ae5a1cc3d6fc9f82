"""A torch ``Dataset`` of (image, depth, mask, camera) for depth regression, and its ``DataLoader``.

Sources (one or several roots, detected per root or named by :attr:`DepthDatasetConfig.source`):

- ``"folder"``: this toolkit's dataset folder (:class:`helpers.data.folder.DatasetFolder`): 16-bit metric z-depth,
  opacity masks, cameras. Detected by its ``meta.json``.
- ``"synthetic"`` / ``"prosopo"``: the original project's layouts (:mod:`helpers.data.original`): 8-bit
  per-image normalised depth, fallback masks, cameras for the synthetic set only.

Items
-----
``dataset[i]`` is a dict (every value collates with PyTorch's default ``collate_fn``):

- ``image``: (3, S, S) float32 RGB in [0, 1], S = :attr:`DepthDatasetConfig.image_size`. Model normalisation
  (mean / std) is left to the training step, on the GPU batch: :func:`normalize_images` with :data:`MODEL_INPUTS`.
- ``depth``: (1, R, R) float32, R = :attr:`DepthDatasetConfig.depth_size`, by :attr:`DepthDatasetConfig.target`:
  ``"metric_z"``: camera z-depth in EG3D world units, 0 where there is no surface (our folders only; the original
  layouts have no metric scale). ``"original"``: the original's per-image [-1, 1] map, 1 = nearest, −1 = farthest
  and background; for our folders :func:`helpers.depth.metrics.original_normalize` of z over the mask (min/max
  taken over the whole stored map, before any crop), for the original layouts what the file holds.
- ``mask``: (1, R, R) bool foreground. Our folders: the pixel has a surface (depth > 0, i.e. opacity reached the
  generator's ``depth_min_opacity``) and, when :attr:`DepthDatasetConfig.min_opacity` > 0, opacity >= it. Original
  layouts: the documented fallback :func:`helpers.data.original.fallback_mask` (no masks were published).
- ``camera``: (25,) float32 EG3D camera vector of the returned image (crop and flip applied: the intrinsics describe
  the S×S image and the R×R depth alike, both being normalised). **Unknown cameras** (Prosopo) are filled with NaN,
  so batches always collate; test with ``torch.isfinite(batch["camera"]).all(-1)``.
- ``id``: the sample id (str; a batch holds a list of them).

Resizing
--------
The image is decoded by PIL and resized in one step from the stored resolution (the crop box, if any, is applied
in the same call), bilinear, which PIL antialiases when shrinking (512 → 128). Depth and mask are resampled by
**nearest neighbour** (:func:`helpers.data.augment.resample_nearest`): every output pixel takes the value of the
stored pixel that contains its centre, so background (0) never bleeds into the face and no depth is invented
between foreground and background. Integer down-sampling factors pick the same pixels as
``F.interpolate(mode="nearest-exact")``. Outputs are square: a non-square stored image is stretched (as
:meth:`helpers.depth.attention_unet.AttentionUNet.predict` does), which the normalised intrinsics absorb.

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
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from helpers import cameras
from helpers.data.augment import (
    FULL_FRAME,
    IDENTITY,
    AugmentConfig,
    AugmentParams,
    Crop,
    apply_flip,
    apply_photometric,
    crop_camera,
    flip_camera,
    resample_bilinear,
    resample_nearest,
    sample_params,
)
from helpers.data.folder import META, DatasetFolder, DatasetFolderError, manifest_paths
from helpers.data.original import (
    MissingPolicy,
    OriginalFolder,
    detect_layout,
    read_original_camera,
    read_original_depth,
)
from helpers.data.splits import Selection, SplitConfig, select_split
from helpers.depth.attention_unet import AttentionUNetConfig
from helpers.depth.dpt import BACKBONES
from helpers.depth.metrics import original_normalize
from helpers.depth_png import read_depth_png, valid_depth

Target = Literal["metric_z", "original"]
Source = Literal["auto", "folder", "synthetic", "prosopo"]
PathLike = str | os.PathLike[str]

_TARGETS = ("metric_z", "original")
_SOURCES = ("auto", "folder", "synthetic", "prosopo")
_SEED_RANGE = 2**62
_CACHE_VERSION = 1
_CACHE_INFO = "cache.json"


# --------------------------------------------------------------------------------------------
# Model inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInput:
    """What a depth model expects: square input side in pixels and per-channel mean / std of RGB in [0, 1]."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


#: Input conventions of the depth models: ``"attention_unet"`` (the original's 128², ``(x − 0.5)/0.5``, as
#: :meth:`helpers.depth.attention_unet.AttentionUNet.predict`) and every backbone of
#: :data:`helpers.depth.dpt.BACKBONES` by name (``"dpt-large"``: 384², mean = std = 0.5; ``"depth-anything-v2-small"``:
#: 518², ImageNet mean / std; …), with the numbers those modules define.
MODEL_INPUTS: dict[str, ModelInput] = {
    "attention_unet": ModelInput(AttentionUNetConfig.input_size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    **{name: ModelInput(spec.input_size, spec.mean, spec.std) for name, spec in BACKBONES.items()},
}


def _model_input(model: str | ModelInput) -> ModelInput:
    if isinstance(model, ModelInput):
        return model
    if model not in MODEL_INPUTS:
        raise ValueError(f"unknown model {model!r}; known: {sorted(MODEL_INPUTS)} (or pass a ModelInput)")
    return MODEL_INPUTS[model]


def normalize_images(images: torch.Tensor, model: str | ModelInput) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] → the model's normalised input ``(x − mean) / std`` (same device and dtype).

    Meant for the batch on the GPU, after the loader (cheaper than per item)."""
    spec = _model_input(model)
    mean = torch.tensor(spec.mean, dtype=images.dtype, device=images.device).view(3, 1, 1)
    std = torch.tensor(spec.std, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return (images - mean) / std


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepthDatasetConfig:
    """What a :class:`DepthDataset` returns (see the module doc for the item layout).

    Attributes:
        image_size: side S of the square model input in pixels (128: the Attention U-Net; see :meth:`for_model`).
        depth_size: side R of the square depth and mask maps (128: the original's depth resolution).
        target: ``"metric_z"`` (z-depth, world units, 0 = no surface; our folders only) or ``"original"``
            (per-image [-1, 1], 1 = nearest; any source).
        augment: random augmentations (:class:`helpers.data.augment.AugmentConfig`), None = off (val / test).
        split: ``"all"``, ``"train"``, ``"val"`` or ``"test"`` (:mod:`helpers.data.splits`, by sample id).
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
        return cls(**{"image_size": _model_input(model).image_size, **overrides})


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


@dataclass
class _Maps:
    """One sample's stored maps, before resizing: depth (R0, R0) float32, mask bool, camera (25,) or None."""

    image_path: str
    depth: np.ndarray
    mask: np.ndarray
    camera: np.ndarray | None


class _FolderSource:
    """Our dataset folder, reduced to numpy arrays (ids, file paths, cameras)."""

    metric = True
    kind = "folder"

    def __init__(self, root: Path, config: DepthDatasetConfig) -> None:
        folder = DatasetFolder(root)
        self.root = root
        self.near, self.far = folder.near, folder.far
        self.min_opacity = config.min_opacity
        ids = select_split(folder.ids, config.split, config.splits)
        records = [folder.records[i] for i in ids]
        needed = ("image", "depth", "mask") if self.min_opacity > 0 else ("image", "depth")
        for record in records:
            files = record.get("files", {})
            missing = [k for k in needed if k not in files] + ([] if "camera" in record or "camera" in files
                                                                else ["camera"])
            if missing:
                raise DatasetFolderError(f"{root}: the manifest line of {record['id']} lists no {', '.join(missing)}")
        self.ids = np.array(ids, dtype=str)
        self.images = np.array([str(root / r["files"]["image"]) for r in records], dtype=str)
        self.depths = np.array([str(root / r["files"]["depth"]) for r in records], dtype=str)
        self.masks = np.array([str(root / r["files"].get("mask", "")) for r in records], dtype=str)
        # Cameras are in the manifest: no .npy read per item. Older records without one read the file.
        self.cameras = np.stack(
            [np.asarray(r["camera"] if "camera" in r else np.load(root / r["files"]["camera"]), dtype=np.float32)
             .reshape(cameras.CAMERA_DIM) for r in records]
        ) if records else np.zeros((0, cameras.CAMERA_DIM), np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def read(self, i: int) -> _Maps:
        depth = read_depth_png(self.depths[i], self.near, self.far)
        mask = valid_depth(depth)
        if self.min_opacity > 0:
            from PIL import Image

            with Image.open(self.masks[i]) as im:
                opacity = np.asarray(im)
            if opacity.shape != depth.shape:
                raise DatasetFolderError(f"{self.masks[i]}: mask shape {opacity.shape} != depth shape {depth.shape}")
            mask &= opacity >= round(self.min_opacity * 255)  # stored as round(255 · opacity)
        return _Maps(str(self.images[i]), depth, mask, self.cameras[i])


class _OriginalSource:
    """An original layout (per-image normalised depth; cameras for the synthetic set only)."""

    metric = False

    def __init__(self, root: Path, layout: Literal["synthetic", "prosopo", "auto"], config: DepthDatasetConfig):
        data = OriginalFolder(root, layout, missing=config.missing, focal=config.original_focal,
                              mask_threshold=config.original_mask_threshold)
        self.root = root
        self.kind = data.layout
        self.focal, self.mask_threshold = data.focal, data.mask_threshold
        ids = select_split(data.ids, config.split, config.splits)
        self.ids = np.array(ids, dtype=str)
        self.images = np.array([str(data.image_path(i)) for i in ids], dtype=str)
        self.depths = np.array([str(data.depth_path(i)) for i in ids], dtype=str)
        self.cameras = np.array([str(data.camera_path(i) or "") for i in ids], dtype=str)  # "" = no camera

    def __len__(self) -> int:
        return len(self.ids)

    def read(self, i: int) -> _Maps:
        depth, mask = read_original_depth(self.depths[i], self.mask_threshold)
        camera = read_original_camera(self.cameras[i], self.focal) if self.cameras[i] else None
        return _Maps(str(self.images[i]), depth, mask, camera)


def _fingerprint(source: _FolderSource | _OriginalSource) -> list[Any]:
    """Cheap state of a source's files for the cache key: size and mtime of the manifests (our folders) or of the
    image and depth folders (a folder's mtime changes when files are added, removed or renamed)."""
    root = Path(source.root)
    if isinstance(source, _FolderSource):
        paths = manifest_paths(root)
    else:
        paths = [Path(str(source.images[0])).parent, Path(str(source.depths[0])).parent] if len(source) else []
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


def _open_source(root: Path, config: DepthDatasetConfig) -> _FolderSource | _OriginalSource:
    source = config.source
    if source == "auto":
        if (root / META).is_file():
            source = "folder"
        elif detect_layout(root) is not None:
            return _OriginalSource(root, "auto", config)
        else:
            raise DatasetFolderError(
                f"{root} is neither a dataset folder of this toolkit (no {META}) nor an original layout "
                "(images/ or input/ next to depth128x128/)"
            )
    if source == "folder":
        return _FolderSource(root, config)
    return _OriginalSource(root, source, config)


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


def read_resized(path: PathLike, size: int, crop: Crop = FULL_FRAME) -> np.ndarray:
    """Decode an image and resize its ``crop`` box to size×size (PIL bilinear, antialiased when shrinking).

    Returns a writable (size, size, 3) uint8 RGB array."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        resized = rgb.resize((size, size), Image.Resampling.BILINEAR, box=crop.pixel_box(*rgb.size))
    return np.array(resized)  # a writable copy (np.asarray of a PIL image is read-only)


def _to_float_image(array: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)


def load_image(path: PathLike, size: int, crop: Crop = FULL_FRAME) -> torch.Tensor:
    """:func:`read_resized` as a (3, size, size) float32 RGB tensor in [0, 1]."""
    return _to_float_image(read_resized(path, size, crop))


class _ArrayCache:
    """A built cache folder: memory-mapped ``images.npy`` (N, S, S, 3) uint8, ``depth.npy`` (N, R, R) float32 (the
    target, before resizing), ``mask.npy`` (N, R, R) bool, ``camera.npy`` (N, 25) float32 (NaN = unknown). The
    arrays are opened lazily in each process (workers map the same pages)."""

    FILES = ("images", "depth", "mask", "camera")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info = json.loads((path / _CACHE_INFO).read_text(encoding="utf-8"))
        self._arrays: dict[str, np.ndarray] | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {name: np.load(self.path / f"{name}.npy", mmap_mode="r") for name in self.FILES}
        return self._arrays

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": None}  # re-open the maps in the receiving process


class _RawItems(Dataset):
    """Items to fill a cache with: (index, image (S, S, 3) uint8, target depth, mask, camera) of every item."""

    def __init__(self, dataset: DepthDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        maps, source = self.dataset._stored(index)
        image = read_resized(maps.image_path, self.dataset.config.image_size)
        depth = self.dataset._target(maps, source).numpy()
        return index, image, depth, maps.mask, _camera_or_nan(maps.camera).numpy()


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

    def __init__(self, roots: PathLike | Sequence[PathLike], config: DepthDatasetConfig | None = None) -> None:
        self.config = config or DepthDatasetConfig()
        paths = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
        if not paths:
            raise ValueError("DepthDataset needs at least one folder")
        self.sources = [_open_source(Path(p), self.config) for p in paths]
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
        self._cache: _ArrayCache | None = None

    def __len__(self) -> int:
        return int(self._offsets[-1])

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
            seed = int(torch.randint(0, _SEED_RANGE, ()).item())
        return sample_params(self.config.augment, torch.Generator().manual_seed(int(seed)))

    def _stored(self, index: int) -> tuple[_Maps, _FolderSource | _OriginalSource]:
        source_number, local = self.locate(index)
        source = self.sources[source_number]
        return source.read(local), source

    def _target(self, maps: _Maps, source: _FolderSource | _OriginalSource) -> torch.Tensor:
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
            arrays = self._cache.arrays()
            image = _to_float_image(np.array(arrays["images"][index]))
            if not params.crop.is_identity:  # a zoom-in of the cached image_size² image
                image = resample_bilinear(image, c.image_size, params.crop)
            depth = torch.from_numpy(np.array(arrays["depth"][index]))
            mask = torch.from_numpy(np.array(arrays["mask"][index]))
            camera = torch.from_numpy(np.array(arrays["camera"][index]))
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
        state = {
            "version": _CACHE_VERSION,
            "sources": [[s.kind, str(Path(s.root).resolve()), _fingerprint(s)] for s in self.sources],
            "ids": hashlib.sha256("\n".join(self.ids).encode()).hexdigest(),
            "image_size": c.image_size, "target": c.target, "min_opacity": c.min_opacity,
            "original_mask_threshold": c.original_mask_threshold, "original_focal": c.original_focal,
        }
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()

    def use_cache(self, directory: PathLike, *, workers: int = 0, progress: bool = True) -> DepthDataset:
        """Serve items from memory-mapped arrays under ``directory`` (built on first use); returns ``self``.

        The cache holds each item's image already resized to ``image_size`` (uint8) and its stored depth target,
        mask and camera, so an item costs a few array reads instead of a PNG decode: use it when the loader, not
        the GPU, limits training. Items are identical to the uncached ones except that a crop is resampled from
        the cached image_size² image (bilinear zoom-in) instead of the stored full-resolution image. The cache
        lives in ``directory/depth-cache-<key>/`` (:meth:`cache_key`): another config or changed folders get
        another one; the build is crash-safe (temporary folder, renamed when complete). Delete old caches by hand.
        Size per item: 3·S² + 5·R0² bytes + 100 (S = image_size, R0 = stored depth side): ~130 KB at 128/128.
        """
        path = Path(directory) / f"depth-cache-{self.cache_key()[:20]}"
        if not (path / _CACHE_INFO).is_file():
            self._build_cache(path, workers=workers, progress=progress)
        cache = _ArrayCache(path)
        if cache.info.get("items") != len(self):
            raise DatasetFolderError(f"{path} holds {cache.info.get('items')} items, the dataset {len(self)}: "
                                     "delete the folder to rebuild it")
        self._cache = cache
        return self

    def _build_cache(self, path: Path, *, workers: int, progress: bool) -> None:
        from tqdm.auto import tqdm

        if len(self) == 0:
            raise ValueError("cannot cache an empty dataset")
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        tmp.mkdir(parents=True)
        try:
            _, _, depth0, _, _ = _RawItems(self)[0]
            n, s, r = len(self), self.config.image_size, depth0.shape
            fmt = np.lib.format
            out = {
                "images": fmt.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(n, s, s, 3)),
                "depth": fmt.open_memmap(tmp / "depth.npy", mode="w+", dtype=np.float32, shape=(n, *r)),
                "mask": fmt.open_memmap(tmp / "mask.npy", mode="w+", dtype=np.bool_, shape=(n, *r)),
                "camera": fmt.open_memmap(tmp / "camera.npy", mode="w+", dtype=np.float32,
                                          shape=(n, cameras.CAMERA_DIM)),
            }
            loader = DataLoader(_RawItems(self), batch_size=None, shuffle=False, num_workers=workers)
            for index, image, depth, mask, camera in tqdm(loader, total=n, disable=not progress, desc="depth cache"):
                if tuple(depth.shape) != r:
                    raise DatasetFolderError(
                        f"item {self.ids[int(index)]}: stored depth {tuple(depth.shape)} differs from {r}; a cache "
                        "needs one depth resolution (use several datasets, or no cache)"
                    )
                i = int(index)
                out["images"][i], out["depth"][i], out["mask"][i], out["camera"][i] = image, depth, mask, camera
            for array in out.values():
                array.flush()
            del out
            info = {"items": n, "image_size": s, "depth_shape": list(r), "key": self.cache_key(),
                    "ids_head": self.ids[:3], "created_by": "helpers.data.depth_dataset"}
            (tmp / _CACHE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            try:
                os.replace(tmp, path)
            except OSError:  # built meanwhile by another process: keep theirs
                if not (path / _CACHE_INFO).is_file():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _mix(*values: int) -> int:
    """A well-mixed 63-bit seed from integers."""
    return int(np.random.SeedSequence([v & 0xFFFFFFFFFFFFFFFF for v in values]).generate_state(1, np.uint64)[0] >> 1)


class SeededSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, item_seed)`` pairs: a permutation (``shuffle``) or ``0..n-1`` and one seed per item.

    Both come from a generator seeded by ``(seed, epoch)``; the epoch advances at each pass (or is set with
    :meth:`set_epoch`, e.g. when resuming), so every epoch differs and a run is reproducible.
    """

    def __init__(self, length: int, *, shuffle: bool, seed: int = 0) -> None:
        self.length = int(length)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(_mix(self.seed, self.epoch))
        self.epoch += 1
        order = torch.randperm(self.length, generator=generator) if self.shuffle else torch.arange(self.length)
        seeds = torch.randint(0, _SEED_RANGE, (self.length,), generator=generator)
        return iter(zip(order.tolist(), seeds.tolist(), strict=True))


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed Python's and numpy's RNGs from the worker's torch seed (which the loader derives
    from its generator), so any library randomness in a worker is reproducible too."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    workers: int,
    pin_memory: bool | None = None,
    seed: int = 0,
    drop_last: bool = False,
    persistent_workers: bool | None = None,
    prefetch_factor: int | None = None,
) -> DataLoader:
    """A ``DataLoader`` for training or evaluation.

    Args:
        dataset: a :class:`DepthDataset` (seeded per item through :class:`SeededSampler`) or any map-style dataset
            (then shuffled by a generator seeded with ``seed``).
        batch_size: items per batch.
        shuffle: a new seeded permutation each epoch (training) or the dataset order (evaluation).
        workers: loader processes (0 = in the main process). Each decodes whole items; use about one per CPU core.
        pin_memory: page-locked batches for fast, asynchronous host → GPU copies
            (``.to("cuda", non_blocking=True)``); None = when CUDA is available.
        seed: seeds the order, the per-item augmentation and the workers' RNGs.
        drop_last: drop the last incomplete batch (training with BatchNorm).
        persistent_workers: keep workers alive between epochs; None = when ``workers > 0``.
        prefetch_factor: batches loaded in advance per worker (PyTorch's default 2 when None).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    if persistent_workers is None:
        persistent_workers = workers > 0
    generator = torch.Generator().manual_seed(int(seed))
    extra: dict[str, Any] = {}
    if workers > 0:
        extra["persistent_workers"] = persistent_workers
        if prefetch_factor is not None:
            extra["prefetch_factor"] = prefetch_factor
    if isinstance(dataset, DepthDataset):
        sampler: Any = SeededSampler(len(dataset), shuffle=shuffle, seed=seed)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                          pin_memory=pin_memory, drop_last=drop_last, worker_init_fn=seed_worker,
                          generator=generator, **extra)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, pin_memory=pin_memory,
                      drop_last=drop_last, worker_init_fn=seed_worker, generator=generator, **extra)
