"""Depth regression: models that predict a face depth map from one photo, their losses and metrics.

Models: :mod:`helpers.depth.attention_unet` (the original project's Attention U-Net; its checkpoint
files in :mod:`helpers.depth.unet_weights`), :mod:`helpers.depth.dpt` (MiDaS DPT and Depth Anything V2
through ``transformers``; backbones and configs in :mod:`helpers.depth.dpt_config`), sharing
:mod:`helpers.depth.predict`. Evaluation: :mod:`helpers.depth.metrics` (depth accuracy on a foreground
mask) with :mod:`helpers.depth.alignment`, :mod:`helpers.depth.normals`, :mod:`helpers.depth.masked` and
:mod:`helpers.depth.metrics_table`. Training: :mod:`helpers.depth.losses`.
"""
