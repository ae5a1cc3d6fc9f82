"""Latent-code regression: predict EG3D's latent w from one photo, then let EG3D render the face in 3D.

:class:`LatentDataset` (images with their w, camera and depth), :class:`LatentEncoder` (a small ResNet of our own or
DINOv2 through ``transformers``), :func:`train_latent` (``python -m helpers train-latent``, the loop of
:mod:`helpers.training`), :func:`evaluate_latents` (latent and rendered-depth errors with the ``w_avg`` and mean-w
baselines) and :func:`reconstruct_photo` (photo → w → image, depth, mesh; :func:`invert_from_prediction` refines the
prediction with PTI). :func:`load_latent_encoder` also loads the original project's published regressors by name
(:data:`PUBLISHED_REGRESSORS`, a :class:`PublishedCodeRegressor` predicting ws (14, 512)).
"""

from helpers.latent.encoder import LatentEncoder, LatentEncoderConfig, load_latent_encoder, save_latent_encoder
from helpers.latent.evaluate_latent import evaluate_latents
from helpers.latent.infer import invert_from_prediction, reconstruct_photo
from helpers.latent.latent_dataset import LatentDataset
from helpers.latent.latent_training import LatentTrainConfig, train_latent
from helpers.latent.published_regressors import PUBLISHED_REGRESSORS, PublishedCodeRegressor

__all__ = ["PUBLISHED_REGRESSORS", "LatentDataset", "LatentEncoder", "LatentEncoderConfig", "LatentTrainConfig",
           "PublishedCodeRegressor", "evaluate_latents", "invert_from_prediction", "load_latent_encoder",
           "reconstruct_photo", "save_latent_encoder", "train_latent"]
