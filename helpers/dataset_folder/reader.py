"""Reading a dataset folder: :class:`DatasetFolder` (ids, manifest records, ``load``) and its :class:`Sample`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from helpers.base.depth_png import read_depth_png
from helpers.dataset_folder.layout import META, DatasetFolderError
from helpers.dataset_folder.manifest import read_samples
from helpers.dataset_folder.meta import read_meta


@dataclass
class Sample:
    """One sample of a dataset folder, loaded.

    image: (H, W, 3) uint8; depth: (R, R) float32 z-depth in world units (0 = no surface);
    mask: (R, R) float32 opacity in [0, 1]; camera: (25,) float32 EG3D vector; latent: w (512,)
    or ws (num_ws, 512); mesh_path: the mesh file if the sample has one. Converted photo collections
    (e.g. LPFF: image and camera only) have no depth, mask or latent, converted Prosopo no camera: those are None.
    """

    id: str
    record: dict[str, Any]
    image: np.ndarray
    depth: np.ndarray | None
    mask: np.ndarray | None
    camera: np.ndarray | None
    latent: np.ndarray | None
    mesh_path: Path | None


class DatasetFolder:
    """Read access to a dataset folder: ``len``, ``ids``, ``records``, ``load(id or index)``.

    ``near`` / ``far`` are the depth PNGs' range, None for a folder without depth maps (e.g. converted LPFF).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        meta = read_meta(self.root)
        if meta is None:
            raise DatasetFolderError(f"{self.root} has no {META}: not a dataset folder of this toolkit")
        self.meta = meta
        self.records = read_samples(self.root)
        self.ids = sorted(self.records)
        depth = meta.get("depth_png") or {}
        self.near: float | None = float(depth["near"]) if "near" in depth else None
        self.far: float | None = float(depth["far"]) if "far" in depth else None

    @property
    def has_depth(self) -> bool:
        """Whether the folder stores depth maps (its meta.json gives their near/far)."""
        return self.near is not None and self.far is not None

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, key: str | int) -> Sample:
        sample_key = self.ids[key] if isinstance(key, int) else key
        record = self.records[sample_key]
        files = {k: self.root / v for k, v in record["files"].items()}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise DatasetFolderError(f"sample {sample_key}: missing files {missing}")
        with Image.open(files["image"]) as im:
            image = np.asarray(im.convert("RGB"))
        mask = depth = None
        if "mask" in files:
            with Image.open(files["mask"]) as im:
                mask = np.asarray(im).astype(np.float32) / 255.0
        if "depth" in files:
            if self.near is None or self.far is None:
                raise DatasetFolderError(f"{self.root}: sample {sample_key} has a depth map but {META} gives no "
                                         "depth_png near/far to decode it")
            depth = read_depth_png(files["depth"], self.near, self.far)
        camera = np.load(files["camera"]) if "camera" in files else (
            np.asarray(record["camera"], np.float32) if "camera" in record else None)
        return Sample(
            id=sample_key, record=record, image=image, depth=depth, mask=mask, camera=camera,
            latent=np.load(files["latent"]) if "latent" in files else None, mesh_path=files.get("mesh"),
        )
