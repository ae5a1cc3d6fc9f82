"""Synthetic face datasets: EG3D samples with depth, masks, latents, cameras and meshes, and the analytic head.

:func:`generate` (``python -m helpers generate``) renders one sample per seed with the settings of
:class:`SampleSettings` through cameras of the :class:`ViewpointMix`, resumable and shardable, into the dataset
folder format (:mod:`helpers.dataset_folder`). Its parts: :mod:`~helpers.generation.sample_renderer`,
:mod:`~helpers.generation.sample_writer`, :mod:`~helpers.generation.sample_settings`,
:mod:`~helpers.generation.viewpoints`. Without EG3D: :class:`AnalyticHead` (exact density and depth) and
:func:`write_head_dataset` (randomised heads in our format or the public datasets' layouts; tests, smoke mode).
"""

from helpers.generation.analytic_head import AnalyticHead, SyntheticView
from helpers.generation.generate_dataset import GenerateConfig, GenerateReport, generate, parse_seeds, plan
from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset
from helpers.generation.sample_settings import MeshSettings, SampleSettings
from helpers.generation.viewpoints import Viewpoint, ViewpointCategory, ViewpointMix

__all__ = [
    "AnalyticHead", "GenerateConfig", "GenerateReport", "HeadDatasetConfig", "MeshSettings", "SampleSettings",
    "SyntheticView", "Viewpoint", "ViewpointCategory", "ViewpointMix", "generate", "parse_seeds", "plan",
    "write_head_dataset",
]
