"""Real photos into EG3D: offline face alignment, a camera from the landmarks, PTI inversion, Prosopo-style sets.

The chain for one photo (:func:`invert_photo`): :mod:`~.dlib_landmarks` (dlib face detection and the 68
:mod:`~.ibug68` landmarks) → :func:`align_face` (the FFHQ/EG3D crop of :mod:`~.crop_recipe`) →
:func:`estimate_camera` (an EG3D camera fitted to the :mod:`~.landmark_template`) → PTI (:mod:`~.pti`, with the
LPIPS of :mod:`~.lpips`) → an :class:`Inversion` (renders, depth, mesh, a tuned generator as a
:mod:`~.weight_delta`). :func:`invert_folder` (``python -m helpers invert``) does a folder of photos.

dlib is needed only for alignment: ``pip install "eg3d-face-toolkit[face]"``.
"""

from helpers.invert.align import AlignConfig, AlignedFace, AlignmentError, align_face
from helpers.invert.camera_fit import CameraEstimate, CameraFitConfig, estimate_camera
from helpers.invert.folder_inversion import BatchConfig, invert_folder
from helpers.invert.inversion import Inversion, InversionConfig, invert_photo
from helpers.invert.lpips import LPIPS, LPIPSNets
from helpers.invert.lpips_weights import load_lpips, load_lpips_nets
from helpers.invert.pti import PTIConfig

__all__ = ["LPIPS", "AlignConfig", "AlignedFace", "AlignmentError", "BatchConfig", "CameraEstimate",
           "CameraFitConfig", "Inversion", "InversionConfig", "PTIConfig", "align_face", "estimate_camera",
           "invert_folder", "invert_photo", "load_lpips", "load_lpips_nets", "LPIPSNets"]
