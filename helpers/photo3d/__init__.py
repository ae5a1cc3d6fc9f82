"""One face photo in, its 3D face out: the job the toolkit is for, by the original work's three methods.

:func:`reconstruct_photo` (``python -m helpers reconstruct``) detects the face and its 68 landmarks, crops it as EG3D
expects, fits EG3D's camera to the landmarks, then reconstructs the face with a depth model, a latent encoder and
EG3D, or PTI (:mod:`~helpers.photo3d.photo_to_3d`); :func:`save_photo_reconstruction` writes the record, depth,
mesh, turntable and viewer page (:mod:`~helpers.photo3d.photo_files`). Beside it: ``python -m helpers render``
(:mod:`~helpers.photo3d.render_command`: a latent, seed, dataset sample or inversion → image, depth, mesh, views) and
``python -m helpers process-lpff`` (:mod:`~helpers.photo3d.lpff_processing`: photos → EG3D training data, as LPFF).
"""

from helpers.photo3d.photo_files import overview_image, save_photo_reconstruction
from helpers.photo3d.photo_to_3d import PhotoConfig, PhotoReconstruction, PhotoReconstructor, reconstruct_photo

__all__ = ["PhotoConfig", "PhotoReconstruction", "PhotoReconstructor", "overview_image", "reconstruct_photo",
           "save_photo_reconstruction"]
