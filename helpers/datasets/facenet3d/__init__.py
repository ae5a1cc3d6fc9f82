"""3DFaceNet CoarseData and FineData (Guo et al.) with the Basel Face Model 2009 they need.

:mod:`~helpers.datasets.facenet3d.bfm_files` finds and reads the user's BFM files (they cannot be shipped);
:class:`FaceModel` is the linear model ``mean + A_id·α + A_exp·β``; :mod:`~helpers.datasets.facenet3d.facenet3d_data`
turns CoarseData parameters into a posed mesh and an orthographic depth map; :func:`convert_coarse` and
:func:`convert_fine` write training data in EG3D's frame and units;
:func:`write_standin_model` writes a random stand-in in the real file formats for tests and smoke mode.
"""

from helpers.datasets.facenet3d.bfm_files import MissingModelFilesError, find_model_files
from helpers.datasets.facenet3d.bfm_standin import write_standin_model
from helpers.datasets.facenet3d.face_model import FaceModel, FaceModelOptions
from helpers.datasets.facenet3d.facenet3d_convert import FineOptions, convert_coarse, convert_fine, training_view
from helpers.datasets.facenet3d.facenet3d_data import (
    CoarseParams,
    PoseConvention,
    find_coarse_samples,
    load_coarse_sample,
    read_coarse_params,
    read_fine_depth,
    write_coarse_params,
)

__all__ = [
    "CoarseParams", "FaceModel", "FaceModelOptions", "FineOptions", "MissingModelFilesError", "PoseConvention",
    "convert_coarse", "convert_fine", "find_coarse_samples", "find_model_files", "load_coarse_sample",
    "read_coarse_params", "read_fine_depth", "training_view", "write_coarse_params", "write_standin_model",
]
