"""Shared pieces of the depth training tests: the tiny U-Net, the splits, a small run config (the data:
``small_heads`` of ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import torch

from helpers.dataset_folder.splits import SplitConfig
from helpers.depth.depth_training import TrainConfig
from helpers.depth.models import DepthModelConfig

SPLITS = SplitConfig(train=0.75, val=0.25, test=0.0)
TINY_UNET = DepthModelConfig(start_filts=4, n_blocks=3, input_size=32)
#: The same network as ``train-depth`` flags, on the CPU, with 32² depth, no loader processes and no progress bars.
TINY_UNET_FLAGS = ["--start-filts", "4", "--n-blocks", "3", "--input-size", "32", "--depth-size", "32", "--workers", "0",
                   "--no-progress", "--device", "cpu"]


def quiet(_message: str) -> None:
    pass


def small_config(data: Path, out: Path, **changes: object) -> TrainConfig:
    """A train-depth run of the tiny U-Net on ``data`` (3 epochs of batches of 3, on the CPU)."""
    fields = dict(data=(str(data),), out=str(out), model=TINY_UNET, depth_size=32, epochs=3, batch_size=3,
                  workers=0, splits=SPLITS, progress=False, checkpoint_every=2, seed=5)
    fields.update(changes)
    return TrainConfig(**fields)


def weights(path: Path) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint file (``last.pt``, ``best.pt``)."""
    return torch.load(path, map_location="cpu", weights_only=True)["model"]["state_dict"]
