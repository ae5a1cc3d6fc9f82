"""Shared pieces of the depth training tests: the tiny U-Net, the splits and 12 analytic heads at 32²."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.dataset_folder.splits import SplitConfig
from helpers.depth.models import DepthModelConfig
from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset

SPLITS = SplitConfig(train=0.75, val=0.25, test=0.0)
TINY_UNET = DepthModelConfig(start_filts=4, n_blocks=3, input_size=32)


def quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def small_heads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 analytic heads at 32² (our folder format): 9 train and 3 val samples under SPLITS."""
    root = tmp_path_factory.mktemp("small") / "data"
    return write_head_dataset(root, HeadDatasetConfig(count=12, image_size=32, depth_size=32, seed=2), progress=False)
