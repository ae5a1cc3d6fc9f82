"""LPFF (large-pose Flickr faces): the published folder, its pose rebalancing, conversion and EG3D export.

:class:`LpffFolder` reads the published layout (cameras, metadata, crops; :mod:`~helpers.datasets.lpff.lpff_folder`,
with EG3D's camera mirroring); :mod:`~helpers.datasets.lpff.pose_rebalance` is LPFF's KDE pose density and copies
rule, as published; :func:`convert_lpff` writes our dataset folder, :func:`export_eg3d_folder` an image folder with
each image's copies for EG3D's ``train.py``.
"""

from helpers.datasets.lpff.lpff_convert import convert_lpff, export_eg3d_folder
from helpers.datasets.lpff.lpff_folder import LpffFolder, mirror_camera, mirror_name, with_mirrors
from helpers.datasets.lpff.pose_rebalance import RebalanceRule, poses_of, rebalance_counts, theta_phi

__all__ = ["LpffFolder", "RebalanceRule", "convert_lpff", "export_eg3d_folder", "mirror_camera", "mirror_name",
           "poses_of", "rebalance_counts", "theta_phi", "with_mirrors"]
