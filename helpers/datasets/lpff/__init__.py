"""LPFF (large-pose Flickr faces): the published folder, its pose rebalancing, conversion and EG3D export.

:class:`LpffFolder` reads the published layout (cameras, metadata, crops; :mod:`~helpers.datasets.lpff.lpff_folder`,
with EG3D's camera mirroring); :mod:`~helpers.datasets.lpff.pose_rebalance` is LPFF's KDE pose density and copies
rule, as published; :func:`convert_lpff` writes our dataset folder (its replicas go into the manifest, and
:func:`helpers.dataset_folder.eg3d_export.export_eg3d` writes the image folder with each image's copies for EG3D's ``train.py``).
"""

from helpers.datasets.lpff.lpff_convert import convert_lpff
from helpers.datasets.lpff.lpff_folder import LpffFolder, mirror_camera, mirror_name, with_mirrors
from helpers.datasets.lpff.pose_rebalance import (
    FFHQ_DENSITY_THRESHOLD,
    RebalanceRule,
    poses_of,
    rebalance_counts,
    reference_density,
    theta_phi,
)

__all__ = ["FFHQ_DENSITY_THRESHOLD", "LpffFolder", "RebalanceRule", "convert_lpff", "mirror_camera", "mirror_name",
           "poses_of", "rebalance_counts", "reference_density", "theta_phi", "with_mirrors"]
