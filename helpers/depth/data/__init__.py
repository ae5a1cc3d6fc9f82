"""Training data of the depth regressors: :class:`DepthDataset` items (image, depth, mask, camera, id) from our
dataset folders and the original published layouts, with camera-consistent augmentations (:mod:`~.augment`) and
an optional memory-mapped item cache (:mod:`~.item_cache`)."""

from helpers.depth.data.augment import AugmentConfig
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.depth.data.depth_dataset import DepthDataset

__all__ = ["AugmentConfig", "DepthDataset", "DepthDatasetConfig"]
