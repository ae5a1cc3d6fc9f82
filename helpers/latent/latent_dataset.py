"""Images with their EG3D latent w, camera and depth: the data of latent-code regression.

:class:`LatentDataset` is a :class:`~helpers.depth.data.depth_dataset.DepthDataset` (same folders, splits, resizing and
seeded loading) whose items also hold ``w``: the (w_dim,) latent of the sample, float32, read once at construction
from our folders' ``latents/<id>.npy`` ((w_dim,) or (num_ws, w_dim); all-equal rows are stored as one) or the
original layouts' ``latent/<id>.npy`` ((1, 14, 512)). Samples whose ws rows differ (a truncation cutoff) keep their
first row and are counted in :attr:`LatentDataset.wplus_samples`. A latent that is missing or cannot be read does not
stop the construction: the sample's item raises :class:`helpers.training.sample_check.SampleReadError` (sample and
file), and the check before training (:meth:`LatentDataset.known_bad`, :meth:`LatentDataset.sample_files`) lists it.

Augmentation is photometric only (brightness, contrast, saturation): a flip or a crop shows another face or
another framing of it, whose latent is not the stored one.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers.dataset_folder.layout import FOLDERS
from helpers.dataset_folder.reader import DatasetFolder
from helpers.datasets.original_layouts import OriginalFolder
from helpers.depth.data.augment import AugmentConfig
from helpers.depth.data.depth_data_config import DepthDatasetConfig, PathLike
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.training.sample_check import BadSample, SampleReadError, reading

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
        exclude: samples to leave out, as ``(folder, sample id)`` pairs.
    """

    def __init__(self, roots: PathLike | Sequence[PathLike], config: DepthDatasetConfig | None = None, *,
                 exclude: Collection[tuple[str, str]] = ()) -> None:
        config = config or DepthDatasetConfig()
        super().__init__(roots, dataclasses.replace(config, augment=photometric_only(config.augment)), exclude=exclude)
        #: The latent file of every item, in item order.
        self.latent_files = [str(path) for source in self.sources for path in self._latent_paths(source)]
        rows: list[np.ndarray | None] = []
        #: item index -> what is wrong with its latent (the item raises :class:`SampleReadError`).
        self.unreadable: dict[int, str] = {}
        self.wplus_samples = 0
        for index, path in enumerate(self.latent_files):
            try:
                with reading(self.ids[index], path):
                    w, wplus = _read_w(path)
            except SampleReadError as error:
                self.unreadable[index] = str(error.problem)
                rows.append(None)
                continue
            rows.append(w)
            self.wplus_samples += int(wplus)
        sizes = Counter(len(w) for w in rows if w is not None)
        w_dim = sizes.most_common(1)[0][0] if sizes else 512
        for index, w in enumerate(rows):
            if w is not None and len(w) != w_dim:
                self.unreadable[index] = f"a latent of {len(w)} values, the others {w_dim}"
        self.w = np.stack([np.full(w_dim, np.nan, np.float32) if i in self.unreadable else w
                           for i, w in enumerate(rows)]) if rows else np.zeros((0, w_dim), np.float32)

    @staticmethod
    def _latent_paths(source: Any) -> list[Path]:
        """Each sample's latent file (where it should be when the sample has none)."""
        if source.kind == "folder":
            folder = DatasetFolder(source.root)
            return [source.root / folder.records[i]["files"].get("latent", f"{FOLDERS['latent']}/{i}.npy")
                    for i in source.ids]
        original = OriginalFolder(source.root, source.kind, missing="skip")  # source.ids are already complete
        return [original.latent_path(i) if original.has_latent(i) else
                source.root / str(original.spec.latents) / f"{i}.npy" for i in source.ids]

    def sample_files(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """As :meth:`DepthDataset.sample_files`, with each sample's latent file."""
        return [(folder, sample, (*files, latent))
                for (folder, sample, files), latent in zip(super().sample_files(), self.latent_files, strict=True)]

    def known_bad(self) -> list[BadSample]:
        """As :meth:`DepthDataset.known_bad`, with the samples whose latent could not be read."""
        folders = [str(source.root) for source in self.sources for _ in range(len(source))]
        return super().known_bad() + [BadSample(folders[i], self.ids[i], self.latent_files[i], problem)
                                      for i, problem in sorted(self.unreadable.items())]

    @property
    def w_dim(self) -> int:
        return int(self.w.shape[1])

    def mean_w(self) -> np.ndarray:
        """(w_dim,) mean latent of the dataset (the "predict the mean" baseline, from a train split), over the
        samples whose latent could be read."""
        readable = np.ones(len(self.w), dtype=bool)
        readable[list(self.unreadable)] = False
        return self.w[readable].mean(axis=0)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index = self._item_index(int(key[0] if isinstance(key, tuple) else key))
        if index in self.unreadable:
            raise SampleReadError.of(self.ids[index], self.latent_files[index], self.unreadable[index])
        item = super().__getitem__(key)
        item["w"] = torch.from_numpy(self.w[index])
        return item
