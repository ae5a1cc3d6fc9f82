"""Datasets: the toolkit's dataset folder format, synthetic data generation with EG3D, readers.

Modules: :mod:`helpers.data.folder` (the dataset folder format of the README: layout, manifest,
meta.json, dataset.json) and :mod:`helpers.data.generate` (``python -m helpers generate``).
"""
