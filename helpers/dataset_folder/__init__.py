"""The toolkit's dataset folder format, shared by generated, inverted and converted data (docs/data-formats.md).

:class:`DatasetFolder` reads a folder (``load(id or index)`` → :class:`Sample`); writers follow
:mod:`helpers.dataset_folder.layout` (file names, sample ids, the latent convention), append to manifests with
:class:`~helpers.dataset_folder.manifest.ManifestWriter` and open folders with
:func:`~helpers.dataset_folder.meta.prepare_folder`. :func:`merge_folders` combines shards (``python -m helpers
merge``); :mod:`helpers.dataset_folder.splits` assigns train / val / test by sample id;
:mod:`helpers.dataset_folder.preview` draws contact sheets and pose histograms. :func:`~helpers.dataset_folder.eg3d_export.export_eg3d` writes
the images and their ``dataset.json`` as EG3D's ``train.py`` reads them (``python -m helpers export-eg3d``).
"""

from helpers.dataset_folder.layout import DatasetFolderError, sample_id
from helpers.dataset_folder.manifest import read_samples
from helpers.dataset_folder.merge import merge_folders
from helpers.dataset_folder.reader import DatasetFolder, Sample
from helpers.dataset_folder.splits import SplitConfig, split_of

__all__ = ["DatasetFolder", "DatasetFolderError", "Sample", "SplitConfig", "merge_folders", "read_samples", "sample_id",
           "split_of"]
