"""Datasets: the toolkit's dataset folder format, synthetic data generation with EG3D, readers.

Modules: :mod:`helpers.data.folder` (the dataset folder format of the README: layout, manifest,
meta.json, dataset.json, :class:`~helpers.data.folder.DatasetFolder` reader),
:mod:`helpers.data.generate` (``python -m helpers generate``), :mod:`helpers.data.merge`
(``python -m helpers merge``), :mod:`helpers.data.preview` (pictures for notebooks),
:mod:`helpers.data.original` (the original project's published layouts: synthetic set, Prosopo),
:mod:`helpers.data.depth_dataset` (torch datasets and loaders for depth regression),
:mod:`helpers.data.splits` (train/val/test by sample id) and :mod:`helpers.data.augment`.
"""
