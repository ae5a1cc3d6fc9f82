"""Datasets: the toolkit's dataset folder format, synthetic data generation with EG3D, readers.

Modules: :mod:`helpers.data.folder` (the dataset folder format of the README: layout, manifest,
meta.json, dataset.json, :class:`~helpers.data.folder.DatasetFolder` reader),
:mod:`helpers.data.generate` (``python -m helpers generate``; its parts in
:mod:`helpers.data.sample_settings`, :mod:`helpers.data.render` and :mod:`helpers.data.sample_writer`),
:mod:`helpers.data.merge` (``python -m helpers merge``), :mod:`helpers.data.preview` (pictures for notebooks),
:mod:`helpers.data.original` (the original project's published layouts: synthetic set, Prosopo),
:mod:`helpers.data.depth_dataset` (torch datasets for depth regression; its parts in
:mod:`helpers.data.sources`, :mod:`helpers.data.images`, :mod:`helpers.data.item_cache`,
:mod:`helpers.data.model_inputs` and :mod:`helpers.data.loader`),
:mod:`helpers.data.splits` (train/val/test by sample id) and :mod:`helpers.data.augment`.

:mod:`helpers.data.heads` writes a small dataset of randomised analytic heads (ellipsoid unions of
:mod:`helpers.synthetic` with varied shapes, skin colours, lights and poses) with exact depth, in our folder
format or the original layouts: no EG3D, CPU only, offline, seconds for 32 samples at 128², for learning tests,
smoke-mode notebooks and benchmarks.
"""
