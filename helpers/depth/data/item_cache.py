"""The memory-mapped item cache behind :meth:`helpers.depth.data.depth_dataset.DepthDataset.use_cache`.

A cache folder ``depth-cache-<key>/`` holds ``images.npy`` (N, S, S, 3) uint8 (images resized to ``image_size``),
``depth.npy`` (N, R0, R0) float32 (the depth target at the stored resolution), ``mask.npy`` (N, R0, R0) bool,
``camera.npy`` (N, 25) float32 (NaN = unknown) and ``cache.json``. It is built once (crash-safe: in a temporary
folder renamed when complete) and read through memory maps that every worker shares.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from helpers.base import cameras
from helpers.dataset_folder.layout import DatasetFolderError

CACHE_VERSION = 1
CACHE_INFO = "cache.json"

#: One item as cached: image (S, S, 3) uint8, depth target (R0, R0) float32, mask (R0, R0) bool, camera (25,).
Row = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def cache_key(sources: list[Any], ids: Sequence[str], **options: Any) -> str:
    """Hex digest of a cache's contents: the sources and their state, the item ids and the options (JSON values)."""
    state = {
        "version": CACHE_VERSION,
        "sources": sources,
        "ids": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        **options,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


class ItemCache:
    """A built cache folder (see the module doc). The arrays are opened lazily in each process (workers map the
    same pages)."""

    FILES = ("images", "depth", "mask", "camera")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info = json.loads((path / CACHE_INFO).read_text(encoding="utf-8"))
        self._arrays: dict[str, np.ndarray] | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {name: np.load(self.path / f"{name}.npy", mmap_mode="r") for name in self.FILES}
        return self._arrays

    def read(self, index: int) -> Row:
        """Writable copies of one item's image, depth, mask and camera."""
        arrays = self.arrays()
        image, depth, mask, camera = (np.array(arrays[name][index]) for name in self.FILES)
        return image, depth, mask, camera

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": None}  # re-open the maps in the receiving process


class _Rows(Dataset):
    """``(index, *row(index))`` for every item: what fills a cache (through a ``DataLoader``'s workers)."""

    def __init__(self, row: Callable[[int], Row], length: int) -> None:
        self.row = row
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return index, *self.row(index)


def build_cache(path: Path, row: Callable[[int], Row], ids: Sequence[str], *, image_size: int, key: str,
                workers: int, progress: bool) -> None:
    """Write the cache folder ``path`` with ``row(i)`` of every item ``i`` (``ids`` in item order)."""
    from tqdm.auto import tqdm

    if len(ids) == 0:
        raise ValueError("cannot cache an empty dataset")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    tmp.mkdir(parents=True)
    try:
        _, depth0, _, _ = row(0)
        n, s, r = len(ids), image_size, depth0.shape
        fmt = np.lib.format
        out = {
            "images": fmt.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(n, s, s, 3)),
            "depth": fmt.open_memmap(tmp / "depth.npy", mode="w+", dtype=np.float32, shape=(n, *r)),
            "mask": fmt.open_memmap(tmp / "mask.npy", mode="w+", dtype=np.bool_, shape=(n, *r)),
            "camera": fmt.open_memmap(tmp / "camera.npy", mode="w+", dtype=np.float32,
                                      shape=(n, cameras.CAMERA_DIM)),
        }
        loader = DataLoader(_Rows(row, n), batch_size=None, shuffle=False, num_workers=workers)
        for index, image, depth, mask, camera in tqdm(loader, total=n, disable=not progress, desc="depth cache"):
            if tuple(depth.shape) != r:
                raise DatasetFolderError(
                    f"item {ids[int(index)]}: stored depth {tuple(depth.shape)} differs from {r}; a cache "
                    "needs one depth resolution (use several datasets, or no cache)"
                )
            i = int(index)
            out["images"][i], out["depth"][i], out["mask"][i], out["camera"][i] = image, depth, mask, camera
        for array in out.values():
            array.flush()
        del out
        info = {"items": n, "image_size": s, "depth_shape": list(r), "key": key,
                "ids_head": list(ids[:3]), "created_by": "helpers.depth.data.depth_dataset"}
        (tmp / CACHE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(tmp, path)
        except OSError:  # built meanwhile by another process: keep theirs
            if not (path / CACHE_INFO).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def open_cache(directory: str | os.PathLike[str], key: str, row: Callable[[int], Row], ids: Sequence[str], *,
               image_size: int, workers: int = 0, progress: bool = True) -> ItemCache:
    """The cache ``directory/depth-cache-<key[:20]>/``, built first (:func:`build_cache`) when it is not there."""
    path = Path(directory) / f"depth-cache-{key[:20]}"
    if not (path / CACHE_INFO).is_file():
        build_cache(path, row, ids, image_size=image_size, key=key, workers=workers, progress=progress)
    cache = ItemCache(path)
    if cache.info.get("items") != len(ids):
        raise DatasetFolderError(f"{path} holds {cache.info.get('items')} items, the dataset {len(ids)}: "
                                 "delete the folder to rebuild it")
    return cache
