"""The depth networks: the original project's Attention U-Net and the transformer regressors (MiDaS DPT, Depth
Anything V2 through ``transformers``), sharing one ``predict(images)`` contract (:mod:`~.predict`) and the input
conventions of :mod:`~.model_inputs`. The original project's checkpoints and published weights: :mod:`~.unet_weights`
(the U-Net), :mod:`~.midas_dpt` (MiDaS DPT, converted key for key), :mod:`~.original_weights` (shared reading and
downloads); the transformer configs: :mod:`~.dpt_config`."""

from helpers.depth.networks.attention_unet import AttentionUNet, AttentionUNetConfig
from helpers.depth.networks.dpt import TransformerDepthModel
from helpers.depth.networks.dpt_config import BACKBONES, TransformerDepthConfig
from helpers.depth.networks.model_inputs import normalize_images

__all__ = ["BACKBONES", "AttentionUNet", "AttentionUNetConfig", "TransformerDepthConfig", "TransformerDepthModel",
           "normalize_images"]
