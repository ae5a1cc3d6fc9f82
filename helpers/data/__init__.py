"""Datasets: the toolkit's dataset folder format, synthetic data generation with EG3D, public datasets.

Modules: :mod:`helpers.data.folder` (the dataset folder format of the README: layout, manifest,
meta.json, dataset.json, :class:`~helpers.data.folder.DatasetFolder` reader),
:mod:`helpers.data.generate` (``python -m helpers generate``; its parts in
:mod:`helpers.data.sample_settings`, :mod:`helpers.data.render` and :mod:`helpers.data.sample_writer`),
:mod:`helpers.data.merge` (``python -m helpers merge``), :mod:`helpers.data.preview` (pictures for notebooks),
:mod:`helpers.data.original` (the original project's published layouts: synthetic set, Prosopo; reader and
:func:`~helpers.data.original.convert_original` to our folder format),
:mod:`helpers.data.depth_dataset` (torch datasets for depth regression; its parts in
:mod:`helpers.data.sources`, :mod:`helpers.data.images`, :mod:`helpers.data.item_cache`,
:mod:`helpers.data.model_inputs` and :mod:`helpers.data.loader`),
:mod:`helpers.data.splits` (train/val/test by sample id) and :mod:`helpers.data.augment`.

Public datasets: :mod:`helpers.data.registry` (indexes :mod:`helpers.data.dataset_entries`, records of
:mod:`helpers.data.dataset_info`: the named datasets ``prosopo``, ``eg3d-synthetic``, ``lpff``,
``ffhq-eg3d-labels``, ``3dfacenet-coarse``, ``3dfacenet-fine``: sources, licences shown before download, expected
layouts; :func:`~helpers.data.registry.download` and :func:`~helpers.data.registry.convert`),
:mod:`helpers.data.datasets_cli` (``python -m helpers datasets list|info|download|convert``),
:mod:`helpers.data.download` (``fetch`` from HTTP, Google Drive, Kaggle, Hugging Face; cached, resumable,
verified, atomic; sources in :mod:`helpers.data.download_sources`, back-ends in :mod:`helpers.data.fetch_gdrive`,
:mod:`helpers.data.fetch_kaggle`, :mod:`helpers.data.fetch_hf`, landing and markers in
:mod:`helpers.data.fetch_store`, unpacking in :mod:`helpers.data.archives`), :mod:`helpers.data.lpff` (LPFF's
converter and rebalanced EG3D export; the published layout and mirroring in :mod:`helpers.data.lpff_folder`, pose
statistics and the copies rule in :mod:`helpers.data.pose_rebalance`), :mod:`helpers.data.ffhq_labels` (EG3D's FFHQ
``dataset.json`` cameras and ``FFHQ_num_replicas.json`` rebalancing), :mod:`helpers.data.bfm` (Basel Face Model 2009
and 3DFaceNet's expression basis: the files and their readers), :mod:`helpers.data.face_model` (the linear model
:class:`~helpers.data.face_model.FaceModel`), :mod:`helpers.data.bfm_standin` (a random stand-in in the real file
formats) and :mod:`helpers.data.facenet3d` (3DFaceNet CoarseData parameters → mesh → depth
with :mod:`helpers.mesh.rasterize`, converter; FineData depth reader).

:mod:`helpers.data.heads` writes a small dataset of randomised analytic heads (ellipsoid unions of
:mod:`helpers.synthetic` with varied shapes, skin colours, lights and poses) with exact depth, in our folder
format, the original layouts or LPFF's published layout: no EG3D, CPU only, offline, seconds for 32 samples at 128²,
for learning tests, smoke-mode notebooks and benchmarks.
"""
