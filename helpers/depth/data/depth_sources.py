"""Where a :class:`helpers.depth.data.depth_dataset.DepthDataset` reads its items: one root each, reduced to numpy arrays.

:class:`FolderSource` reads this toolkit's dataset folder (:class:`helpers.dataset_folder.reader.DatasetFolder`),
:class:`OriginalSource` an original layout (:class:`helpers.datasets.original_layouts.OriginalFolder`); :func:`open_source`
picks one. Ids, file paths and cameras are kept in numpy arrays, not per-sample Python objects, so forked workers
do not copy them page by page through reference counting. ``read(i)`` returns the stored :class:`Maps` of a sample
(a failed read raises :class:`helpers.training.sample_check.SampleReadError`, naming the sample and the file);
``files(i)`` lists the files it reads. Samples listed in ``exclude`` are left out (after the split is drawn).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from helpers.base import cameras
from helpers.base.depth_png import read_depth_png, valid_depth
from helpers.dataset_folder.layout import META, DatasetFolderError
from helpers.dataset_folder.manifest import manifest_paths
from helpers.dataset_folder.reader import DatasetFolder
from helpers.dataset_folder.splits import select_split
from helpers.datasets.original_layouts import OriginalFolder, detect_layout, read_original_camera, read_original_depth
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.training.sample_check import BadSample, reading


@dataclass
class Maps:
    """One sample's stored maps, before resizing: depth (R0, R0) float32, mask bool, camera (25,) or None."""

    image_path: str
    depth: np.ndarray
    mask: np.ndarray
    camera: np.ndarray | None


def _file_state(paths: list[Path]) -> list[Any]:
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


class FolderSource:
    """Our dataset folder, reduced to numpy arrays (ids, file paths, cameras)."""

    metric = True
    kind = "folder"

    def __init__(self, root: Path, config: DepthDatasetConfig, exclude: Collection[str] = ()) -> None:
        folder = DatasetFolder(root)
        if not folder.has_depth:
            raise DatasetFolderError(f"{root} holds no metric depth maps (its meta.json gives no depth_png range): "
                                     "a photo collection such as converted LPFF cannot train or score a depth model, "
                                     "and a converted original layout is read from its original folder instead")
        self.root = root
        self.near, self.far = float(folder.near), float(folder.far)  # type: ignore[arg-type]
        self.min_opacity = config.min_opacity
        ids = [i for i in select_split(folder.ids, config.split, config.splits) if i not in exclude]
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

    def read(self, i: int) -> Maps:
        with reading(str(self.ids[i]), self.depths[i]):
            depth = read_depth_png(self.depths[i], self.near, self.far)
        mask = valid_depth(depth)
        if self.min_opacity > 0:
            from PIL import Image

            with reading(str(self.ids[i]), self.masks[i]):
                with Image.open(self.masks[i]) as im:
                    opacity = np.asarray(im)
                if opacity.shape != depth.shape:
                    raise DatasetFolderError(f"mask shape {opacity.shape} != depth shape {depth.shape}")
            mask &= opacity >= round(self.min_opacity * 255)  # stored as round(255 · opacity)
        return Maps(str(self.images[i]), depth, mask, self.cameras[i])

    def files(self, i: int) -> tuple[str, ...]:
        """The files :meth:`read` and the image loader read for sample ``i``."""
        mask = (str(self.masks[i]),) if self.min_opacity > 0 else ()
        return (str(self.images[i]), str(self.depths[i]), *mask)

    def known_bad(self) -> list[BadSample]:
        return []  # a manifest line without a file is refused when the folder is opened

    def fingerprint(self) -> list[Any]:
        """Cheap state of the files (for a cache key): name, size and mtime of the manifests."""
        return _file_state(manifest_paths(self.root))


def _lacking(data: OriginalFolder, stem: str, lacks: str) -> str:
    """The file that a stem left out by an original layout lacks (its depth PNG first, else its camera)."""
    if "depth" in lacks:
        return str(data.root / data.spec.depth / f"{stem}.png")
    return str(data.root / str(data.spec.cameras) / f"{stem}.npy")


class OriginalSource:
    """An original layout (per-image normalised depth; cameras for the synthetic set only)."""

    metric = False

    def __init__(self, root: Path, layout: Literal["synthetic", "prosopo", "auto"], config: DepthDatasetConfig,
                 exclude: Collection[str] = ()):
        data = OriginalFolder(root, layout, missing=config.missing, focal=config.original_focal,
                              mask_threshold=config.original_mask_threshold)
        self.root = root
        self.kind = data.layout
        self.focal, self.mask_threshold = data.focal, data.mask_threshold
        #: Image stems of this split left out for a missing depth (or camera) file (``missing="skip"``), with the
        #: file they lack.
        self.skipped = {stem: _lacking(data, stem, lacks) for stem, lacks in data.skipped.items()
                        if stem not in exclude and select_split([stem], config.split, config.splits)}
        ids = [i for i in select_split(data.ids, config.split, config.splits) if i not in exclude]
        self.ids = np.array(ids, dtype=str)
        self.images = np.array([str(data.image_path(i)) for i in ids], dtype=str)
        self.depths = np.array([str(data.depth_path(i)) for i in ids], dtype=str)
        self.cameras = np.array([str(data.camera_path(i) or "") for i in ids], dtype=str)  # "" = no camera

    def __len__(self) -> int:
        return len(self.ids)

    def read(self, i: int) -> Maps:
        with reading(str(self.ids[i]), self.depths[i]):
            depth, mask = read_original_depth(self.depths[i], self.mask_threshold)
        camera = None
        if self.cameras[i]:
            with reading(str(self.ids[i]), self.cameras[i]):
                camera = read_original_camera(self.cameras[i], self.focal)
        return Maps(str(self.images[i]), depth, mask, camera)

    def files(self, i: int) -> tuple[str, ...]:
        """The files :meth:`read` and the image loader read for sample ``i``."""
        camera = (str(self.cameras[i]),) if self.cameras[i] else ()
        return (str(self.images[i]), str(self.depths[i]), *camera)

    def known_bad(self) -> list[BadSample]:
        """The skipped stems of this split (:attr:`skipped`)."""
        return [BadSample(str(self.root), stem, path, "missing") for stem, path in sorted(self.skipped.items())]

    def fingerprint(self) -> list[Any]:
        """Cheap state of the files (for a cache key): name, size and mtime of the image and depth folders (a
        folder's mtime changes when files are added, removed or renamed)."""
        paths = [Path(str(self.images[0])).parent, Path(str(self.depths[0])).parent] if len(self) else []
        return _file_state(paths)


#: Either kind of source.
ItemSource = FolderSource | OriginalSource


def open_source(root: Path, config: DepthDatasetConfig, exclude: Collection[str] = ()) -> ItemSource:
    """The source of one root: ``config.source``, or for ``"auto"`` our folder when it has a ``meta.json``, else
    the original layout found there; without the samples of ``exclude`` (ids)."""
    source = config.source
    if source == "auto":
        if (root / META).is_file():
            source = "folder"
        elif detect_layout(root) is not None:
            return OriginalSource(root, "auto", config, exclude)
        else:
            raise DatasetFolderError(
                f"{root} is neither a dataset folder of this toolkit (no {META}) nor an original layout "
                "(images/ or input/ next to depth128x128/)"
            )
    if source == "folder":
        return FolderSource(root, config, exclude)
    return OriginalSource(root, source, config, exclude)
