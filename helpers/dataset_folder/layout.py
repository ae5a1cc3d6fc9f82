"""The toolkit's dataset folder: names, sample ids and file conventions shared by every reader and writer.

Layout (docs/data-formats.md)::
    <dataset>/
      meta.json                 generator, checkpoint sha256, settings, package version, date
      dataset.json              EG3D labels {"labels": [["images/<id>.png", [25 floats]], ...]}
      manifest.jsonl            one JSON line per completed sample (sharded runs:
                                manifest.shardIII-of-NNN.jsonl until `python -m helpers merge`)
      images/<id>.png           RGB
      depth/<id>.png            16-bit z-depth between meta.json's near/far, 0 = no surface
      mask/<id>.png             8-bit opacity
      latents/<id>.npy          w (512,) float32, or ws (num_ws, 512) when layers differ
      cameras/<id>.npy          (25,) float32
      meshes/<id>.ply|.obj|.mrc optional, EG3D world units, same frame as the camera
      depth128x128/, cam_poses/, latent/   optional copies in the original project's formats

A sample exists once its manifest line is written, and that line is appended only after all its files were
written under temporary names and renamed (:mod:`helpers.dataset_folder.manifest`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from helpers.base.atomic import remove_temporary_files

FORMAT_NAME = "eg3d-face-toolkit/dataset"
FORMAT_VERSION = 1

META = "meta.json"
DATASET_JSON = "dataset.json"
MANIFEST = "manifest.jsonl"

#: Sample sub-folders (file kind -> folder). Every path in a manifest line is relative to the dataset root.
FOLDERS: dict[str, str] = {
    "image": "images",
    "depth": "depth",
    "mask": "mask",
    "latent": "latents",
    "camera": "cameras",
    "mesh": "meshes",
    "mrc": "meshes",
    "legacy_depth": "depth128x128",
    "legacy_camera": "cam_poses",
    "legacy_latent": "latent",
    "landmarks": "landmarks",  # (68, 3) world-frame 3D landmarks (converted 3DFaceNet)
    "landmarks2d": "landmarks2d",  # (68, 2) landmarks in image pixels (converted 3DFaceNet)
    "stylegan_image": "stylegan",  # LPFF: the 1024² FFHQ (StyleGAN) crop of the face
    "realign_image": "realign2400",  # LPFF: the 2400² realigned image
}


class DatasetFolderError(RuntimeError):
    """A dataset folder is missing files or was made with other settings."""


def sample_id(seed: int) -> str:
    """File stem of the sample generated from ``seed``: ``seed00000042``."""
    if seed < 0:
        raise ValueError(f"seeds must be >= 0, got {seed}")
    return f"seed{int(seed):08d}"


def stored_latent(ws: np.ndarray) -> np.ndarray:
    """What ``latents/<id>.npy`` holds: w (w_dim,) when every layer's w is the same (truncation of
    all layers, the default), else all ws (num_ws, w_dim)."""
    return ws[0].copy() if np.array_equal(ws, np.broadcast_to(ws[:1], ws.shape)) else ws.copy()


def remove_temporaries(root: str | os.PathLike[str]) -> int:
    """Delete temporary files an interrupted run left in the sample folders; returns how many."""
    root = Path(root)
    return remove_temporary_files([root, *(root / name for name in FOLDERS.values())])