"""Depth regression: models that predict a face depth map from one photo, their losses and metrics.

Modules: :mod:`helpers.depth.attention_unet` (the original project's Attention U-Net, loading its
published weights key for key), :mod:`helpers.depth.dpt` (MiDaS DPT and Depth Anything V2 through
``transformers``), :mod:`helpers.depth.metrics` (depth accuracy on a foreground mask) and
:mod:`helpers.depth.losses` (training losses).
"""
