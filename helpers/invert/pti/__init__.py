"""Pivotal Tuning Inversion (PTI) of one aligned face photo into EG3D.

Two stages, as in Roich et al. 2021 ("Pivotal Tuning for Latent-based Editing of Real Images") applied
to EG3D by the public EG3D projectors:

1. **Projection** (:func:`project`): find the latent w (one 512-vector shared by all layers, or W+: one per layer)
   whose render from the photo's camera looks like the photo: Adam on w starting at the mean latent, with the
   StyleGAN2 projector's schedule; loss LPIPS (by default VGG at 256², optionally + L2).
2. **Pivotal tuning** (:func:`tune`): the w found is frozen (the *pivot*) and the generator's weights are fine-tuned
   so that its render matches the photo: L2 + LPIPS (by default AlexNet, full size), Adam at 3e-4, stopping early
   once LPIPS ≤ 0.06. Each stage's LPIPS network, size and ray samples are settings of its config.

Images are (N, 3, H, W) tensors in [-1, 1]; cameras EG3D 25-vectors (:mod:`helpers.base.cameras`). The generator
given is never modified: projection works on a copy (its optimised noise images are discarded, as PTI does) and
tuning returns a tuned copy. Random numbers (w samples, w noise, the renderer's stratified and importance draws)
come from one seeded ``torch.Generator``: same inputs and seed → same result on the CPU.

Presets (:meth:`PTIConfig.preset`): ``"default"`` is EG3D-projector's recipe (LPIPS-VGG at 256² to project,
LPIPS-AlexNet at 512² to tune, 96 + 96 ray samples, mean w of 600 samples); ``"fast"`` and ``"smoke"`` are ours.
Design notes: docs/design/invert.md (pti); the recipe line by line: docs/inversion.md.
"""

from helpers.invert.pti.pti_config import PRECISION_CHOICES, PRESETS, ProjectionConfig, PTIConfig, TuningConfig
from helpers.invert.pti.pti_stages import (
    Projection,
    StepCallback,
    StepLog,
    Tuning,
    conditioning_camera_for,
    image_to_tensor,
    latent_statistics,
    lpips_features,
    project,
    psnr,
    reconstruction_metrics,
    stage_lpips,
    tune,
    with_ray_samples,
)

__all__ = ["PRECISION_CHOICES", "PRESETS", "PTIConfig", "Projection", "ProjectionConfig", "StepCallback", "StepLog",
           "Tuning", "TuningConfig", "conditioning_camera_for", "image_to_tensor", "latent_statistics",
           "lpips_features", "project", "psnr", "reconstruction_metrics", "stage_lpips", "tune", "with_ray_samples"]
