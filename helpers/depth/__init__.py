"""Depth regression: models that predict a face's depth map from one photo, trained on EG3D data.

:mod:`~helpers.depth.models` names, builds, saves and loads every depth model (:func:`load_depth_model` also takes
``"published-unet"``); the networks are in :mod:`helpers.depth.networks`, the data in :mod:`helpers.depth.data`, the
metrics in :mod:`helpers.depth.metrics`. :func:`train_depth` (``python -m helpers train-depth``) trains with the
shared loop of :mod:`helpers.training` and the losses of :mod:`~helpers.depth.losses`; :func:`evaluate_depth_model`
scores a model per sample; :func:`reconstruct` (``python -m helpers reconstruct``) turns a photo into a mesh;
:mod:`~helpers.depth.depth_figures` draws curves, prediction grids and meshes for notebooks.
"""

from helpers.depth.evaluate_depth import EvaluationConfig, evaluate_depth_model
from helpers.depth.losses import DepthLoss, DepthLossConfig
from helpers.depth.models import DepthModelConfig, LoadedDepthModel, build_depth_model, load_depth_model, save_depth_model
from helpers.depth.reconstruction import ReconstructConfig, Reconstruction, reconstruct, save_reconstruction
from helpers.depth.depth_training import TrainConfig, train_depth

__all__ = [
    "DepthLoss", "DepthLossConfig", "DepthModelConfig", "EvaluationConfig", "LoadedDepthModel", "ReconstructConfig",
    "Reconstruction", "TrainConfig", "build_depth_model", "evaluate_depth_model", "load_depth_model", "reconstruct",
    "save_depth_model", "save_reconstruction", "train_depth",
]
