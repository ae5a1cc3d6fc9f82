"""Images with their EG3D latent w, camera and depth: the data of latent-code regression.

:class:`LatentDataset` is a :class:`~helpers.depth.data.depth_dataset.DepthDataset` (same folders, splits, resizing and
seeded loading) whose items also hold ``w``: the (w_dim,) latent of the sample, float32, read once at construction
from our folders' ``latents/<id>.npy`` ((w_dim,) or (num_ws, w_dim); all-equal rows are stored as one) or the
original layouts' ``latent/<id>.npy`` ((1, 14, 512)). Samples whose ws rows differ (a truncation cutoff) keep their
first row and are counted in :attr:`LatentDataset.wplus_samples`.

Augmentation is photometric only (brightness, contrast, saturation): a flip or a crop shows another face or
another framing of it, whose latent is not the stored one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from helpers.dataset_folder.layout import DatasetFolderError
from helpers.dataset_folder.reader import DatasetFolder
from helpers.datasets.original_layouts import OriginalFolder
from helpers.depth.data.augment import AugmentConfig
from helpers.depth.data.depth_data_config import DepthDatasetConfig, PathLike
from helpers.depth.data.depth_dataset import DepthDataset

__all__ = ["LatentDataset", "photometric_only"]


def photometric_only(augment: AugmentConfig | None) -> AugmentConfig | None:
    """``augment`` without flips and crops (they change which latent the image shows)."""
    if augment is None:
        return None
    return dataclasses.replace(augment, hflip=0.0, scale=(1.0, 1.0))


def _read_w(path: PathLike) -> tuple[np.ndarray, bool]:
    """(w (w_dim,), whether the file held differing per-layer rows)."""
    latent = np.load(path).astype(np.float32)
    rows = latent.reshape(-1, latent.shape[-1])
    return rows[0], bool(len(rows) > 1 and not np.allclose(rows, rows[:1]))


class LatentDataset(DepthDataset):
    """A :class:`DepthDataset` whose items also carry ``w`` (see the module docstring).

    Args:
        roots: dataset folders (ours, or the published synthetic set / Prosopo, which ship latents).
        config: as for :class:`DepthDataset`; flips and crops of ``config.augment`` are turned off.
    """

    def __init__(self, roots: PathLike | Sequence[PathLike], config: DepthDatasetConfig | None = None) -> None:
        config = config or DepthDatasetConfig()
        super().__init__(roots, dataclasses.replace(config, augment=photometric_only(config.augment)))
        latents, self.wplus_samples = [], 0
        for source in self.sources:
            paths = self._latent_paths(source)
            for path in paths:
                w, wplus = _read_w(path)
                latents.append(w)
                self.wplus_samples += int(wplus)
        self.w = np.stack(latents) if latents else np.zeros((0, 512), np.float32)

    @staticmethod
    def _latent_paths(source: Any) -> list[PathLike]:
        if source.kind == "folder":
            folder = DatasetFolder(source.root)
            missing = [i for i in source.ids if "latent" not in folder.records[i]["files"]]
            if missing:
                raise DatasetFolderError(f"{source.root}: {len(missing)} samples have no latent (e.g. {missing[0]})")
            return [source.root / folder.records[i]["files"]["latent"] for i in source.ids]
        original = OriginalFolder(source.root, source.kind, missing="skip")  # source.ids are already complete
        missing = [i for i in source.ids if not original.has_latent(i)]
        if missing:
            raise DatasetFolderError(f"{source.root}: {len(missing)} samples have no latent file (e.g. {missing[0]})")
        return [original.latent_path(i) for i in source.ids]

    @property
    def w_dim(self) -> int:
        return int(self.w.shape[1])

    def mean_w(self) -> np.ndarray:
        """(w_dim,) mean latent of the dataset (the "predict the mean" baseline, from a train split)."""
        return self.w.mean(axis=0)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        item = super().__getitem__(key)
        index = self._item_index(int(key[0] if isinstance(key, tuple) else key))
        item["w"] = torch.from_numpy(self.w[index])
        return item

    def with_config(self, **changes: Any) -> LatentDataset:
        return LatentDataset([s.root for s in self.sources], dataclasses.replace(self.config, **changes))
